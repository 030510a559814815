#!/usr/bin/env bash
# HTTP/1.1 pipelining, blast against its peers and the C floor in the same run: blast
# --pipeline D (with the body check), wrk with bench/pipeline.lua (TechEmpower's way), h2load
# --h1 -m D, and bench/floor.c pipelining D deep ("floor": topped up a quarter at a time, as
# blast; "floor-all": all D at a time, as wrk; no clock, no checks), each on
# CPU 0 with one thread and 64 connections, against nginx (1 worker) and `blast serve` (1
# thread), each on CPU 1. Client CPU per request is the client process's user + system time
# (GNU time) over the responses it counted. Runs are interleaved; the table shows medians.
# wrk and h2load send blast's User-Agent, so that every server parses the same request (a
# header more costs nginx 8% of its pipelined ceiling).
#   bench/pipeline.sh [BLAST] [SECONDS] [REPEATS] [DEPTHS]     (DEPTHS default "1 4 16")
set -euo pipefail
blast=$(realpath "${1:-target/release/blast}")
secs=${2:-5}
repeats=${3:-3}
depths=${4:-1 4 16}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
nginx_pid="" serve_pid=""
cleanup() {
    [ -n "$nginx_pid" ] && "$here/../scripts/nginx.sh" stop "$nginx_pid"
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
for tool in wrk h2load gcc; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install wrk nghttp2-client)" >&2; exit 2; }
done

gcc -O2 -o "$dir/floor" "$here/floor.c"
nginx_pid=$("$here/../scripts/nginx.sh" start 18190 1 1)
taskset -c 1 "$blast" serve --listen 127.0.0.1:18191 --threads 1 -d 3600 2>"$dir/serve.log" &
serve_pid=$!
for _ in $(seq 50); do grep -q listening "$dir/serve.log" && break; sleep 0.1; done
agent="User-Agent: blast/$("$blast" --version | awk '{ print $2 }')"
declare -A urls=([nginx]=http://127.0.0.1:18190/predict [serve]=http://127.0.0.1:18191/predict)

# One run: prints "requests cpu_seconds".
run() {
    local client=$1 depth=$2 url=$3 out="$dir/out" t="$dir/time"
    case "$client" in
    blast)
        /usr/bin/time -f '%U %S' -o "$t" taskset -c 0 "$blast" -c 64 -t 1 -d "$secs" \
            --pipeline "$depth" --expect-json 'prediction=0|1' --json "$dir/r.json" "$url" >"$out" 2>&1
        local n
        n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$dir/r.json")
        ;;
    wrk)
        /usr/bin/time -f '%U %S' -o "$t" taskset -c 0 wrk -t1 -c64 -d"${secs}s" \
            -H "$agent" -s "$here/pipeline.lua" "$url" -- "$depth" >"$out" 2>&1
        n=$(awk '/requests in/ { print $1 }' "$out")
        ;;
    floor | floor-all)
        local refill=$((depth / 4))
        [ "$client" = floor-all ] && refill=$depth
        local host=${url#http://} port
        port=${host%%/*} port=${port#*:}
        FLOOR_PIPELINE=$depth FLOOR_REFILL=$refill FLOOR_HEADER="$agent" /usr/bin/time -f '%U %S' \
            -o "$t" taskset -c 0 "$dir/floor" 127.0.0.1 "$port" /predict 64 "$secs" >"$out" 2>&1
        n=$(awk '/^requests/ { print $2 }' "$out")
        ;;
    h2load)
        /usr/bin/time -f '%U %S' -o "$t" taskset -c 0 h2load --h1 -m "$depth" -c 64 -t 1 \
            -H "$agent" -D "$secs" "$url" >"$out" 2>&1
        n=$(awk '/^requests:/ { print $8 }' "$out")
        ;;
    esac
    echo "$n $(awk '{ print $1 + $2 }' "$t")"
}

clients="floor floor-all blast wrk h2load"
printf '%-6s %-9s %5s %12s %14s\n' server client depth "RPS" "CPU us/req"
for server in nginx serve; do
    for depth in $depths; do
        for client in $clients; do : >"$dir/$client.rows"; done
        for _ in $(seq "$repeats"); do
            for client in $clients; do
                run "$client" "$depth" "${urls[$server]}" >>"$dir/$client.rows"
            done
        done
        for client in $clients; do
            # Medians of RPS and CPU per request over the repeats.
            python3 - "$dir/$client.rows" "$secs" "$server" "$client" "$depth" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
secs = float(sys.argv[2])
rps = statistics.median(n / secs for n, _ in rows)
cpu = statistics.median(c / n * 1e6 for n, c in rows if n)
print(f"{sys.argv[3]:<6} {sys.argv[4]:<9} {sys.argv[5]:>5} {rps:>12,.0f} {cpu:>14.3f}")
PY
        done
    done
done
