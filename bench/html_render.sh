#!/usr/bin/env bash
# The HTML page of a one-hour run: its size and how long headless Chromium takes to load and
# render it (browser start included), beside a 3-second run's page for the browser's own
# cost. The hour is a real 1-second run's JSON whose per-second row is repeated 3,600 times
# (as tests/html.rs does), re-rendered by `blast merge`.
#   bench/html_render.sh [BLAST] [RUNS]
set -euo pipefail
blast=${1:-target/release/blast}
runs=${2:-5}
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$blast" serve --listen 127.0.0.1:0 -d 60 >"$dir/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q listening "$dir/serve.log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*/' "$dir/serve.log" | head -1)predict"
"$blast" --rate 200 -d 1 -t 1 --json "$dir/one.json" "$url" >/dev/null 2>&1
"$blast" --rate 200 -d 3 -t 1 --html "$dir/small.html" "$url" >/dev/null 2>&1
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
report = json.load(open(f"{d}/one.json"))
row = report["per_second"][0]
report["per_second"] = [dict(row, second=i, p99_us=1000 + (i % 97) * 13.7) for i in range(3600)]
report["duration_s"] = 3600.0
json.dump(report, open(f"{d}/hour.json", "w"))
PY
"$blast" merge "$dir/hour.json" --html "$dir/hour.html" >/dev/null
render() {
    local page=$1 best=999
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s.%N)
        timeout 60 chromium-headless-shell --no-sandbox --disable-gpu --dump-dom \
            --user-data-dir="$dir/profile" "file://$page" >/dev/null 2>&1
        t1=$(date +%s.%N)
        best=$(echo "$t1 - $t0" | bc | awk -v b="$best" '{print ($1 < b) ? $1 : b}')
    done
    echo "$best"
}
printf '%-22s %10s %14s\n' page bytes "best load (s)"
printf '%-22s %10s %14s\n' "3-second run" "$(stat -c %s "$dir/small.html")" "$(render "$dir/small.html")"
printf '%-22s %10s %14s\n' "one hour (3,600 s)" "$(stat -c %s "$dir/hour.html")" "$(render "$dir/hour.html")"
