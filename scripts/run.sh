#!/usr/bin/env bash
# Firn's main job for a newcomer: build the `firn` command line, then show what it does on a bundled
# example: the embedded definitions, and (as engines land) validation and FHIRPath.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_rust_targets

say "building firn (release)"
cargo build --release --locked -p firn-edge
firn="$CARGO_TARGET_DIR/release/firn"

say "firn defs Patient.deceased[x]"
"$firn" defs 'Patient.deceased[x]'
say "firn defs Observation.valueQuantity"
"$firn" defs Observation.valueQuantity
say "done: the binary is $firn (try \`$firn --help\`)"
