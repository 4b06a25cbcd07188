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

sample="$FIRN_ROOT/firn-sample"
if [ ! -d "$sample" ]; then
    say "firn synth --patients ${FIRN_PATIENTS:-100} --out firn-sample"
    rm -rf "$sample.partial"
    "$firn" synth --patients "${FIRN_PATIENTS:-100}" --out "$sample.partial" | tail -1
    mv "$sample.partial" "$sample"
fi
port="${FIRN_PORT:-8080}"
say "firn serve --port $port --data firn-data --load firn-sample  (the main job: a FHIR server)"
log="$FIRN_ROOT/firn-data/serve.stdout"
mkdir -p "$FIRN_ROOT/firn-data"
"$firn" serve --port "$port" --data "$FIRN_ROOT/firn-data" --load "$sample" > >(tee "$log") &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 600); do
    grep -q "listening on" "$log" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { say "firn serve stopped"; exit 1; }
    sleep 0.1
done
url="$(sed -n 's/.*listening on //p' "$log" | head -1)"
get() {  # curl when present, else Python's standard library
    say "GET $url$1"
    if command -v curl >/dev/null; then curl -s "$url$1"; else
        python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$url$1"
    fi
    echo
}
get "/Patient?gender=female&_summary=count"
get "/Observation?code=http://loinc.org|8867-4&_count=1&_elements=valueQuantity"
say "serving $url (the binary is $firn; Ctrl-C stops it)"
wait "$server"
