#!/bin/bash
# Client memory by connections: blast and wrk, each with one thread on CPU 0, against blast's
# own target on CPU 1 (`blast serve`, one thread), for D seconds at each connection count,
# interleaved REPS times. Prints each run's peak resident memory (GNU time's %M), its
# requests per second, and the peak per connection; the last column is what the ratio to
# wrk is about. The open-files limit must allow the largest count (ulimit -n).
#   [D=3] bench/memory.sh REPS [BLAST] [COUNTS]
# BLAST: the blast binary to measure (default target/release/blast; several, space-separated,
# to compare builds); COUNTS: connection counts (default "1000 10000").
set -euo pipefail
cd "$(dirname "$0")/.."
D=${D:-3}
REPS=${1:?usage: bench/memory.sh REPS [BLAST] [COUNTS]}
read -r -a BLASTS <<<"${2:-target/release/blast}"
read -r -a COUNTS <<<"${3:-1000 10000}"
command -v wrk >/dev/null || echo "skipping wrk: not installed" >&2
PORT=18085
taskset -c 1 "${BLASTS[0]}" serve --listen "127.0.0.1:$PORT" --cpus 1 >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
sleep 1
URL=http://127.0.0.1:$PORT/predict
# Prints "KB rps" for one run of client $1 with $2 connections.
run() {
  local out
  if [ "$1" = wrk ]; then
    out=$(/usr/bin/time -f "TIME %M" taskset -c 0 wrk -t1 -c "$2" -d "${D}s" "$URL" 2>&1)
    echo "$out" | awk '/^TIME/ {m=$2} /Requests\/sec:/ {r=$2} END {print m, r}'
  else
    out=$(/usr/bin/time -f "TIME %M" taskset -c 0 "$1" -t 1 -c "$2" -d "$D" "$URL" 2>&1)
    echo "$out" | awk '/^TIME/ {m=$2} /Throughput/ {r=$2} END {print m, r}'
  fi
}
printf '%-28s %7s %10s %12s %12s\n' client conns peak_KB rps KB_per_conn
for _ in $(seq "$REPS"); do
  for c in "${COUNTS[@]}"; do
    clients=("${BLASTS[@]}")
    command -v wrk >/dev/null && clients+=(wrk)
    for client in "${clients[@]}"; do
      read -r kb rps < <(run "$client" "$c")
      awk -v n="$client" -v c="$c" -v kb="$kb" -v r="$rps" \
        'BEGIN {printf "%-28s %7s %10s %12s %12.2f\n", n, c, kb, r, kb / c}'
    done
  done
done
