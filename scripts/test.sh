#!/usr/bin/env bash
# Runs every Firn test. Installs what is missing first (idempotent), then:
# format check, clippy (warnings are errors), the whole workspace's tests (conformance suites print
# their pass counts), the wasm builds of firn-core, and the npm package (build with its .wasm size,
# Node tests, Chromium tests of the package and the playground).
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

# The npm package: builds firn-wasm (its size is printed as "wasm size: ..."), runs the Node tests and
# the Chromium tests of the package and the playground.
say "npm package and playground (wasm/scripts/test.sh)"
bash "$FIRN_ROOT/wasm/scripts/test.sh"
say "all tests passed"
