#!/usr/bin/env bash
# Firn's main job for a newcomer: build the `firn` command line, then show what it does on the bundled
# example: validation (every R4 invariant included), FHIRPath, patch and diff, and the definitions.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
ensure_rust_targets

say "building firn (release)"
cargo build --release --locked -p firn-edge
firn="$CARGO_TARGET_DIR/release/firn"

example="$FIRN_ROOT/examples/patient.json"
say "firn validate examples/patient.json"
"$firn" validate "$example"
say "firn fhirpath \"Patient.name.where(use = 'official').given\" examples/patient.json"
"$firn" fhirpath "Patient.name.where(use = 'official').given" "$example"
say "firn fhirpath 'birthDate.extension.value' examples/patient.json"
"$firn" fhirpath "birthDate.extension.value" "$example"
say "firn defs Patient.deceased[x]"
"$firn" defs 'Patient.deceased[x]'
say "done: the binary is $firn (try \`$firn --help\`)"
