#!/usr/bin/env bash
# The one-command demo: builds blast, starts nginx serving /predict on the last CPU, blasts it
# from the other CPUs for 10 s with the prediction check on, prints the report, stops nginx.
#   scripts/demo.sh [extra blast flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet

cpus=$(nproc)
server_cpu=$((cpus - 1))
client_cpus="0"
[ "$cpus" -gt 2 ] && client_cpus="0-$((cpus - 2))"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

pid=$(scripts/nginx.sh start "$port" 1 "$server_cpu")
trap 'scripts/nginx.sh stop "$pid"' EXIT
echo "nginx (PID $pid) on CPU $server_cpu, blast on CPU $client_cpus" >&2
./target/release/blast --cpus "$client_cpus" -c 64 -d 10 --health /health \
    --expect-status 200 --expect-json 'prediction=0|1' "$@" "http://127.0.0.1:$port/predict"
