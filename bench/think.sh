#!/bin/bash
# --think at scale: USERS users pausing 1-3 s (10,000 users: about 5,000 requests/s) on one
# blast core (CPU 0), against `blast serve` on another (CPU 1); then the same request rate
# without think time (--rate at the rate the users reached, 64 connections). For each: blast's
# CPU (user + system, GNU time) over the whole process (opening the connections and the
# warm-up included), as a share of its core over the process's time, and per measured
# request (so both runs carry the same warm-up); and the ratio of the two.
#   [USERS=10000] [D=20] bench/think.sh
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${USERS:-10000}; D=${D:-20}
BIN=target/release/blast
OUT=$(mktemp -d)
taskset -c 1 $BIN serve --listen 127.0.0.1:18090 -d $((3 * D + 60)) >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$OUT"' EXIT
sleep 0.5
URL=http://127.0.0.1:18090/predict
# run LABEL ARGS...: one run, its line, and its CPU seconds and requests in $OUT/LABEL.
run() {
  local label=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$OUT/time" taskset -c 0 $BIN -t 1 --cpus 0 -d $D \
    --expect-json 'prediction=0|1' --json "$OUT/$label.json" "$@" $URL >/dev/null 2>"$OUT/err" \
    || { cat "$OUT/err"; exit 1; }
  python3 - "$label" "$OUT" <<'PY'
import json, sys
label, out = sys.argv[1], sys.argv[2]
user, system, elapsed = map(float, open(f"{out}/time").read().split())
r = json.load(open(f"{out}/{label}.json"))
cpu, n = user + system, r["requests"]
think = r.get("think") or {}
print(f"{label:<10} {r['rps']:8.1f} req/s  {n:7d} requests  {r['success_pct']:6.2f}% ok  "
      f"cpu {cpu:6.2f} s = {100 * cpu / elapsed:5.1f}% of a core  {1e6 * cpu / n:6.2f} us/req  "
      f"p99 {r['latency_us']['p99'] / 1e3:.2f} ms" +
      (f"  users by Little's law {think['users']:.0f}" if think else ""))
open(f"{out}/{label}.cpu", "w").write(f"{1e6 * cpu / n} {r['rps']}\n")
PY
}
# The users open over 5 s (a backlog of 10,000 connects at once would overflow the listen
# queue), and the warm-up keeps the opening out of the window.
run think -c $USERS --think 1s-3s --spawn-rate $((USERS / 5)) --warmup 8s
read think_us rate < "$OUT/think.cpu"
run rate --rate "$rate" -c 64 --warmup 8s
read rate_us _ < "$OUT/rate.cpu"
python3 -c "print(f'think / rate: {$think_us / $rate_us:.2f}x the CPU per request')"
