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
say "firn synth --patients 20 → firn serve --load (the main job: a FHIR server)"
demo="$(mktemp -d)"
"$firn" synth --patients 20 --out "$demo/sample" | tail -1
"$firn" serve --port 0 --data "$demo/data" --load "$demo/sample" >"$demo/stdout" 2>"$demo/stderr" &
server=$!
for _ in $(seq 1 100); do grep -q "listening on" "$demo/stdout" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/.*listening on //p' "$demo/stdout")"
get() {  # curl when present, else Python's standard library
    echo "GET $url$1"
    if command -v curl >/dev/null; then curl -s "$url$1"; else
        python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$url$1"
    fi
    echo
}
get "/Patient?gender=female&_summary=count"
get "/Observation?code=http://loinc.org|8867-4&_count=1&_elements=valueQuantity"
kill "$server"; wait "$server" 2>/dev/null || true
rm -rf "$demo"
say "done: the binary is $firn (try \`$firn --help\`, and \`$firn synth\` then \`$firn serve --load firn-sample\`)"
