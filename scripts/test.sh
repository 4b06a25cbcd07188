#!/usr/bin/env bash
# Runs every Firn test. Installs what is missing first (idempotent), then:
# format check, clippy (warnings are errors), the whole workspace's tests (conformance suites print
# their pass counts), and the wasm builds of firn-core with the .wasm size.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_rust_targets

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "cargo test"
out="$CARGO_TARGET_DIR/test-output.txt"
status=0
cargo test --workspace --locked -- --nocapture >"$out" 2>&1 || status=$?
# The summary: every test binary's result line and every line a suite or budget check prints.
grep -E '^test result|suite: |^definitions: |^skipped|^bench |FAILED|panicked' "$out" || true
if [ "$status" -ne 0 ]; then
    tail -n 150 "$out"
    say "tests FAILED (full output: $out)"
    exit "$status"
fi

say "wasm builds of firn-core"
cargo build -p firn-core --target wasm32-unknown-unknown --release --locked
cargo build -p firn-core --target wasm32-wasip2 --release --locked
cargo build -p firn-wasm --target wasm32-unknown-unknown --profile release-wasm --locked
wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release-wasm/firn_wasm.wasm"
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "wasm size: firn_wasm.wasm ${raw} bytes raw, ${gz} bytes gzip"
say "all tests passed"
