#!/usr/bin/env bash
# The npm package's tests, end to end. Idempotent: installs only what is missing (the Rust wasm
# target, wasm-bindgen-cli at exactly the crate's pinned version, npm dependencies, Debian's
# chromium), then builds the package (`npm run build`), runs the Node tests and the Chromium tests
# (package + playground; screenshots under $FIRN_TEST_OUT, default $CARGO_TARGET_DIR/firn-wasm-tests).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/firn/target}"
export FIRN_TEST_OUT="${FIRN_TEST_OUT:-$CARGO_TARGET_DIR/firn-wasm-tests}"
mkdir -p "$CARGO_TARGET_DIR" "$FIRN_TEST_OUT"
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "installing Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $BINDGEN_VERSION (cargo, ~6 min)"
    # Not --locked: the registry mirror lacks one dependency version of the published lock file.
    cargo install wasm-bindgen-cli --version "$BINDGEN_VERSION" --force
fi
if [ ! -x /usr/bin/chromium ]; then
    say "installing chromium (Debian)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
fi
if [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/wasm-opt ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm dependencies"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

say "npm run build"
npm run build --silent

say "node tests (package)"
(cd wasm && node --test test/)

say "chromium tests (package + playground)"
(cd wasm && node --test --test-concurrency=1 browser-test/)
echo "screenshots: $FIRN_TEST_OUT"
say "firn-wasm tests passed"
