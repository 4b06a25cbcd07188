# Shared set-up for Firn's scripts (sourced, not run). Idempotent: installs only what is missing.
set -euo pipefail
FIRN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$FIRN_ROOT"

# A persistent target directory outside the clone, so a warm machine rebuilds only what changed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/firn/target}"
mkdir -p "$CARGO_TARGET_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

ensure_rust_targets() {
    local installed
    installed="$(rustup target list --installed 2>/dev/null || true)"
    for t in wasm32-unknown-unknown wasm32-wasip2; do
        if ! grep -qx "$t" <<<"$installed"; then
            say "installing Rust target $t"
            rustup target add "$t"
        fi
    done
    local comps
    comps="$(rustup component list --installed 2>/dev/null || true)"
    for c in clippy rustfmt; do
        if ! grep -q "^$c" <<<"$comps"; then
            say "installing Rust component $c"
            rustup component add "$c"
        fi
    done
}
