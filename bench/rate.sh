#!/bin/bash
# Client CPU at a fixed request rate (issue 4): blast --rate, oha -q and hey -q against one
# nginx (1 worker on CPU 1), each client pinned to CPU 0 for the same duration, interleaved
# REPS times. A fixed rate is the same work for every client, so the column that matters is
# the share of one core the client needs for it (user + system CPU over the run's wall time);
# the achieved rate is printed too, to show each client really sent it.
#   [RATE=10000] [D=10] [C=32] bench/rate.sh REPS [CLIENT...]
# A CLIENT is a path to a blast binary (run with the prediction check), `oha`, `hey`, or
# `floor`: bench/floor.c in its open-loop mode (built here with gcc), the least a client can
# do at this rate, or `floor-batch`: the same, woken once per millisecond instead of once per
# response (FLOOR_BATCH=1; not an honest latency clock, see floor.c) (default: floor
# target/release/blast oha hey; missing ones are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-10000}; D=${D:-10}; C=${C:-32}
REPS=${1:?usage: bench/rate.sh REPS [CLIENT...]}
shift
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(floor target/release/blast oha hey)
FOUND=()
for c in "${CLIENTS[@]}"; do
  if [[ "$c" = floor* ]] && command -v gcc >/dev/null; then
    mkdir -p target && gcc -O2 -o target/floor bench/floor.c && FOUND+=("$c")
  elif command -v "$c" >/dev/null; then FOUND+=("$c"); else echo "skipping $c: not installed" >&2; fi
done
PORT=18084
PID=$(scripts/nginx.sh start $PORT 1 1)
trap 'scripts/nginx.sh stop $PID' EXIT
URL=http://127.0.0.1:$PORT/predict
# Prints "user sys wall requests" for one run of client $1.
run() {
  local out
  case "$1" in
    oha) out=$(/usr/bin/time -f "TIME %U %S %e" taskset -c 0 oha -q "$RATE" -c "$C" -z "${D}s" --no-tui "$URL" 2>&1)
         echo "$out" | awk '/^TIME/ {u=$2; s=$3; e=$4} /Requests\/sec:/ {r=$2} END {print u, s, e, r*e}' ;;
    floor|floor-batch)
         out=$( ([ "$1" = floor ] || export FLOOR_BATCH=1
                /usr/bin/time -f "TIME %U %S %e" taskset -c 0 target/floor 127.0.0.1 "$PORT" /predict "$C" "$D" "$RATE") 2>&1)
         echo "$out" | awk '/^TIME/ {u=$2; s=$3; e=$4} /^requests/ {r=$2} END {print u, s, e, r}' ;;
    hey) # hey's -q is per worker.
         out=$(/usr/bin/time -f "TIME %U %S %e" taskset -c 0 hey -z "${D}s" -c "$C" -q $((RATE / C)) "$URL" 2>&1)
         echo "$out" | awk '/^TIME/ {u=$2; s=$3; e=$4} /responses/ {r+=$2} END {print u, s, e, r}' ;;
    *)   out=$(/usr/bin/time -f "TIME %U %S %e" taskset -c 0 "$1" --rate "$RATE" -d "$D" -c "$C" \
           --expect-status 200 --expect-json 'prediction=0|1' "$URL" 2>&1)
         echo "$out" | awk '/^TIME/ {u=$2; s=$3; e=$4} /Requests .* total/ {r=$2} END {print u, s, e, r}' ;;
  esac
}
for i in $(seq "$REPS"); do
  for c in "${FOUND[@]}"; do
    echo "$c $(run "$c")"
  done
done | awk -v d="$D" '{
    core = ($2 + $3) / $4 * 100; n[$1]++; u[$1] += $2 / $4 * 100; k[$1] += core; q[$1] += $5 / d
    printf "%s user %.2fs sys %.2fs wall %.2fs: %.1f%% of a core, %.0f req/s\n", $1, $2, $3, $4, core, $5 / d
  } END {
    for (c in n) printf "MEAN %s %.1f%% of a core (user %.1f%%), %.0f req/s\n", c, k[c] / n[c], u[c] / n[c], q[c] / n[c]
  }'
