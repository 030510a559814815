#!/usr/bin/env bash
# How long `blast merge` takes for a distributed run of 16 clients of one hour each, with
# every output (text, JSON, CSV, HTML). Each hour is a real 2-second run of blast against
# `blast serve --delay 1ms-50ms` (latencies spread over many histogram buckets) whose
# per-second rows are repeated 3,600 times with their wall-clock seconds, named by instance
# and started a few milliseconds apart, as 16 pods' reports would be.
#   bench/merge.sh [BLAST] [RUNS]
set -euo pipefail
blast=${1:-target/release/blast}
runs=${2:-5}
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$blast" serve --listen 127.0.0.1:0 -d 60 --delay 1ms-50ms >"$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q listening "$dir/serve.log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*/' "$dir/serve.log" | head -1)predict"
"$blast" -c 64 -d 2 -t 1 --json "$dir/run.json" "$url" >/dev/null 2>&1
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
run = json.load(open(f"{d}/run.json"))
row = run["per_second"][0]
for pod in range(16):
    report = json.loads(json.dumps(run))
    start = run["started_unix_s"] + pod * 0.003
    report["started_unix_s"] = start
    report["duration_s"] = 3600.0
    report["run"]["instance"] = f"blast-pod-{pod}"
    report["per_second"] = [
        dict(row, second=i, unix_s=round(start + i, 3), p99_us=row["p99_us"] + (i % 97) * 13.7)
        for i in range(3600)
    ]
    json.dump(report, open(f"{d}/pod-{pod}.json", "w"), indent=2)
PY
best=999
for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    "$blast" merge "$dir"/pod-*.json --json "$dir/merged.json" --csv "$dir/merged.csv" \
        --html "$dir/merged.html" >"$dir/merged.txt"
    t1=$(date +%s.%N)
    best=$(echo "$t1 - $t0" | bc | awk -v b="$best" '{print ($1 < b) ? $1 : b}')
done
printf 'inputs: 16 reports, %s bytes each\n' "$(stat -c %s "$dir/pod-0.json")"
read -r rows parts < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(len(r['per_second']), len(r['merged']['parts']))" "$dir/merged.json")
printf 'merged: %s per-second rows, %s parts\n' "$rows" "$parts"
printf 'best of %s: %.3f s (text, JSON, CSV and HTML)\n' "$runs" "$best"
/usr/bin/time -f '%M' -o "$dir/rss" "$blast" merge "$dir"/pod-*.json --json "$dir/merged.json" \
    --csv "$dir/merged.csv" --html "$dir/merged.html" >/dev/null
printf 'peak RSS: %s MiB\n' "$(($(cat "$dir/rss") / 1024))"
