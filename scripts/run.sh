#!/usr/bin/env bash
# Firn's main job for a newcomer: build the `firn` command line, show validation and FHIRPath on the
# bundled example, then generate a deterministic synthetic sample and serve it with `firn serve` on the
# embedded store (http://127.0.0.1:8080; Ctrl-C stops it). Data lives in ./firn-sample and ./firn-data
# (git-ignored); FIRN_PORT / FIRN_PATIENTS override the defaults.
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

sample="$FIRN_ROOT/firn-sample"
if [ ! -d "$sample" ]; then
    say "firn synth --patients ${FIRN_PATIENTS:-100} --out firn-sample"
    rm -rf "$sample.partial"
    "$firn" synth --patients "${FIRN_PATIENTS:-100}" --out "$sample.partial"
    mv "$sample.partial" "$sample"
fi
port="${FIRN_PORT:-8080}"
say "firn serve --port $port --data firn-data --load firn-sample  (the binary is $firn; Ctrl-C stops it)"
say "try: curl 'http://127.0.0.1:$port/Patient?gender=female&_count=5'"
exec "$firn" serve --port "$port" --data "$FIRN_ROOT/firn-data" --load "$sample"
