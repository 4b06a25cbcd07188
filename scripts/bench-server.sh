#!/usr/bin/env bash
# Load benchmark of `firn serve` with a real load generator (oha): reads/s, creates/s and search
# latency (p50/p99) over generated data (`firn synth`) and, when the reference data is present,
# the Synthea sample. Prints a table; raw oha JSON goes to $OUT (default target/bench-server).
#
#   scripts/bench-server.sh                 # 1,000 synthetic patients (~27,000 resources), 10 s per run
#   PATIENTS=10000 DURATION=20s CONNECTIONS=64 scripts/bench-server.sh
#
# Needs `oha` (cargo install oha --version 1.16.0 --locked). Server and load generator share the
# machine, so the figures are a floor for the server alone.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PATIENTS="${PATIENTS:-1000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
OUT="${OUT:-$FIRN_ROOT/target/bench-server}"

if ! command -v oha >/dev/null; then
    say "installing oha 1.16.0"
    cargo install oha --version 1.16.0 --locked || cargo install oha --version 1.16.0
fi

say "building firn (release)"
cargo build --release --locked -p firn-edge
firn="$CARGO_TARGET_DIR/release/firn"

work="$(mktemp -d)"
mkdir -p "$OUT"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# start_server DATA_DIR LOAD_DIR → sets $url and $server_pid
start_server() {
    "$firn" serve --port 0 --data "$1" --load "$2" >"$work/stdout" 2>"$work/stderr" &
    server_pid=$!
    # Loading happens before the listener opens: wait as long as the server lives.
    while kill -0 "$server_pid" 2>/dev/null && ! grep -q "listening on" "$work/stdout" 2>/dev/null; do
        sleep 0.2
    done
    url="$(sed -n 's/.*listening on //p' "$work/stdout")"
    [ -n "$url" ] || { cat "$work/stderr" >&2; echo "server did not start" >&2; exit 1; }
    grep "data loaded" "$work/stderr" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# run NAME OHA-ARGS... → one line of results ($C overrides the connection count)
run() {
    local name="$1"; shift
    oha --no-tui -z "$DURATION" -c "${C:-$CONNECTIONS}" --output-format json -o "$OUT/$name.json" "$@" >/dev/null
    python3 - "$OUT/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]; p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
bad = sum(v for k, v in codes.items() if not k.startswith("2"))
print(f"{sys.argv[2]:<34} {s['requestsPerSec']:>10.0f} req/s   p50 {p['p50']*1000:7.2f} ms   p99 {p['p99']*1000:7.2f} ms   2xx {ok}  other {bad}")
PY
}

json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

bench_dataset() {
    local label="$1" load="$2"
    say "$label: starting firn serve --load $load"
    rm -rf "$work/data"
    start_server "$work/data" "$load"
    local total
    total="$(curl -s "$url/_history?_count=1" | json_field 'd["total"]')"
    say "$label: $total resources stored; $CONNECTIONS connections, $DURATION per run"
    # 64 patient ids for reads
    local ids
    ids="$(curl -s "$url/Patient?_count=64&_elements=id" | json_field '"|".join(e["resource"]["id"] for e in d["entry"])')"
    local pid="${ids%%|*}"
    echo "dataset: $label ($total resources)"
    run "$label-read" --rand-regex-url "$url/Patient/($ids)"
    # Searches: latency of one client (-c 1), then throughput under $CONNECTIONS clients.
    local q
    for q in "token-gender|Patient?gender=female&_count=10" \
             "token-class|Encounter?class=AMB&_count=10" \
             "token-class-page100|Encounter?class=AMB" \
             "reference|Encounter?subject=Patient/$pid" \
             "date|Encounter?date=ge2020-01-01&_count=10"; do
        C=1 run "$label-search-${q%%|*}-c1" "$url/${q#*|}"
        run "$label-search-${q%%|*}" "$url/${q#*|}"
    done
    printf '{"resourceType":"Patient","name":[{"family":"Bench","given":["Load"]}],"gender":"female","birthDate":"1980-01-01"}' > "$work/patient.json"
    run "$label-create" -m POST -T application/fhir+json -D "$work/patient.json" "$url/Patient"
    stop_server
}

say "generating $PATIENTS synthetic patients"
"$firn" synth --patients "$PATIENTS" --out "$work/synth" | tail -1 >&2
bench_dataset "synth-$PATIENTS" "$work/synth"

shared="${FIRN_SHARED:-$FIRN_ROOT/../shared}"
if [ -d "$shared/data/synthea-10" ]; then
    # The sample's log.ndjson is the export's job log, not FHIR: load the resource files only.
    mkdir -p "$work/synthea"
    for f in "$shared"/data/synthea-10/*.ndjson; do
        case "$(basename "$f")" in log*) ;; *) ln -s "$f" "$work/synthea/" ;; esac
    done
    bench_dataset "synthea-10" "$work/synthea"
else
    say "skipped Synthea: reference data not found (set FIRN_SHARED)"
fi
say "raw oha results in $OUT"
