#!/bin/bash
# Interleaved A/B of client CPU per request against one nginx (1 worker on CPU 1, clients on
# CPU 0): each named client runs REPS times in turn, and the means are printed.
#   [N=300000] [C=64] [DRIVER=uring] bench/ab.sh REPS CLIENT...
# A CLIENT is a path to a blast binary (run with -n N and the prediction check), `wrk` (3 s),
# `floor` (bench/floor.c, built by bench/suite.py into target/floor; 3 s), or `runtime-floor`
# (bench/runtime_floor.rs, `cargo build --release --example runtime_floor`; 3 s). Columns: user and
# system CPU µs per request (from GNU time), RPS, and nginx CPU µs per request; then each
# client's means, and its medians with their range. With
# SCHEME=https, every client but the two floors goes over TLS to nginx's https port (blast with
# --cacert for nginx's throw-away CA).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-300000}; C=${C:-64}
if [ "${SCHEME:-http}" = https ]; then
  PID=$(scripts/nginx.sh start 18083 1 1 18084)
  URL=https://127.0.0.1:18084/predict; TLS=(--cacert /tmp/blast-nginx-18083-ca.pem)
else
  PID=$(scripts/nginx.sh start 18083 1 1)
  URL=http://127.0.0.1:18083/predict; TLS=()
fi
WPID=$(pgrep -P $PID | head -1)
ROUNDS=$(mktemp)
scpu() { awk '{print $14+$15}' /proc/$WPID/stat; }
for i in $(seq $1); do
  for b in "${@:2}"; do
    s0=$(scpu)
    if [ "$b" = floor ] || [ "$b" = runtime-floor ]; then
      bin=target/floor; [ "$b" = floor ] || bin=target/release/examples/runtime_floor
      line=$(/usr/bin/time -f "$b %U %S %e" taskset -c 0 $bin 127.0.0.1 18083 /predict $C 3 2>&1 | tr '\n' ' ' | awk '{print $5, $6, $7, $8, $2}')
    elif [ "$b" = wrk ]; then
      line=$(/usr/bin/time -f "$b %U %S %e" taskset -c 0 wrk -t1 -c$C -d3s $URL 2>&1 | tr '\n' ' ' | sed -E 's/.* ([0-9]+) requests in.*(wrk [0-9.]+ [0-9.]+ [0-9.]+).*/\2 \1/')
    else
      line=$(/usr/bin/time -f "$b %U %S %e $N" taskset -c 0 $b --driver ${DRIVER:-uring} -t 1 -c $C -n $N --expect-status 200 --expect-json 'prediction=0|1' "${TLS[@]}" $URL 2>&1 >/dev/null | tail -1)
    fi
    s1=$(scpu)
    echo "$line $((s1-s0))"
  done
done | awk -v tck="$(getconf CLK_TCK)" '{r=$5/1e6; u[$1]+=$2/r; s[$1]+=$3/r; q[$1]+=$5/$4; sv[$1]+=$6*1e6/tck/$5; n[$1]++; printf "%s user %.2f sys %.2f us/req  rps %.0f server %.2f\n", $1, $2/r, $3/r, $5/$4, $6*1e6/tck/$5} END {for (b in u) printf "MEAN %s user %.3f sys %.3f total %.3f us/req rps %.0f server %.2f us/req\n", b, u[b]/n[b], s[b]/n[b], (u[b]+s[b])/n[b], q[b]/n[b], sv[b]/n[b]}' | tee "$ROUNDS"
# Medians and ranges of user and total CPU per request: one busy round moves a mean of five
# by a tenth, a median not at all. `median CLIENT NAME EXPR`: EXPR of a round's columns.
median() {
  awk -v b="$1" "\$1 == b && \$2 == \"user\" {print $3}" "$ROUNDS" | sort -n | awk -v b="$1" -v k="$2" '{v[NR]=$1} END {
    m=int((NR+1)/2); printf "MEDIAN %s %s %.2f (%.2f-%.2f) us/req\n", b, k, (v[m]+v[NR+1-m])/2, v[1], v[NR]}'
}
for b in "${@:2}"; do
  median "$b" user '$3'
  median "$b" total '$3+$5'
done
rm -f "$ROUNDS"
scripts/nginx.sh stop $PID
