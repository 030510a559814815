#!/usr/bin/env bash
# Starts or stops the FastAPI /predict app (scripts/fastapi_app.py) on 127.0.0.1.
#   scripts/fastapi.sh start PORT [WORKERS] [CPU] [MODE] [APP]   prints the PID of the server
#     (the master's, with several workers; also written to /tmp/blast-fastapi-PORT.pid, for
#     `blast --server-pid $(cat /tmp/blast-fastapi-PORT.pid)`)
#     MODE: gunicorn (default; Gunicorn with Uvicorn workers, also bound to the Unix socket
#     /tmp/blast-fastapi-PORT.sock, as behind nginx), uvicorn (Uvicorn itself: one process,
#     or with WORKERS over 1 its master and `--workers WORKERS` worker processes), or
#     uvicorn-tls (one Uvicorn process serving https itself, with a certificate from a
#     throw-away CA, scripts/tls-cert.sh, whose certificate is copied to
#     /tmp/blast-fastapi-PORT-ca.pem for blast --cacert)
#     APP: the module:app to serve (default fastapi_app:app; api_app:app is the API that
#     `blast --openapi` is tested against, its SQLite database /tmp/blast-api-PORT.db)
#   scripts/fastapi.sh stop PID
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: fastapi.sh start PORT [WORKERS] [CPU] [MODE] | stop PID}
case "$cmd" in
start)
    port=${2:?port}
    workers=${3:-2}
    cpu=${4:-}
    mode=${5:-gunicorn}
    module=${6:-fastapi_app:app}
    python3 -c 'import fastapi, uvicorn, gunicorn, aiosqlite, python_multipart' 2>/dev/null \
        || { echo "FastAPI stack missing: pip install -r $here/requirements.txt" >&2; exit 2; }
    log=$(mktemp /tmp/blast-fastapi.XXXXXX.log)
    export BLAST_API_DB="/tmp/blast-api-$port.db"
    rm -f "$BLAST_API_DB" "$BLAST_API_DB-wal" "$BLAST_API_DB-shm"
    pin=()
    [ -n "$cpu" ] && pin=(taskset -c "$cpu")
    health=(curl -sf "http://127.0.0.1:$port/health")
    if [ "$mode" = uvicorn-tls ]; then
        certs=$(mktemp -d /tmp/blast-fastapi-certs.XXXXXX)
        "$here/tls-cert.sh" "$certs"
        cp "$certs/ca.pem" "/tmp/blast-fastapi-$port-ca.pem"
        health=(curl -sf --cacert "$certs/ca.pem" "https://127.0.0.1:$port/health")
        "${pin[@]}" python3 -m uvicorn --app-dir "$here" "$module" --host 127.0.0.1 --port "$port" \
            --ssl-keyfile "$certs/server.key" --ssl-certfile "$certs/server.pem" \
            --no-access-log --log-level warning >"$log" 2>&1 &
    elif [ "$mode" = uvicorn ]; then
        several=()
        [ "$workers" -gt 1 ] && several=(--workers "$workers")
        "${pin[@]}" python3 -m uvicorn --app-dir "$here" "$module" --host 127.0.0.1 --port "$port" \
            "${several[@]}" --no-access-log --log-level warning >"$log" 2>&1 &
    else
        "${pin[@]}" python3 -m gunicorn --chdir "$here" -k uvicorn.workers.UvicornWorker -w "$workers" \
            -b "127.0.0.1:$port" -b "unix:/tmp/blast-fastapi-$port.sock" --backlog 4096 --log-level warning "$module" >"$log" 2>&1 &
    fi
    pid=$!
    for _ in $(seq 200); do
        if "${health[@]}" >/dev/null 2>&1; then
            echo "$pid" >"/tmp/blast-fastapi-$port.pid"
            echo "$pid"
            exit 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "FastAPI app did not start on port $port: $(cat "$log")" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
stop)
    pid=${2:?pid}
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    ;;
*) echo "usage: fastapi.sh start PORT [WORKERS] [CPU] [MODE] | stop PID" >&2; exit 2 ;;
esac
