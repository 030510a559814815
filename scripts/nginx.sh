#!/usr/bin/env bash
# Starts or stops an nginx that serves /predict -> {"prediction":1} on 127.0.0.1:PORT and on
# the Unix socket /tmp/blast-nginx-PORT.sock, and /large -> {"prediction":1,"pad":"..."}
# (100,025 bytes, a static file: for --max-body). With TLS_PORT, the same over https on
# 127.0.0.1:TLS_PORT, with a certificate from a throw-away CA (scripts/tls-cert.sh) whose
# certificate is copied to /tmp/blast-nginx-PORT-ca.pem (for blast --cacert).
#   scripts/nginx.sh start PORT [WORKERS] [CPU] [TLS_PORT]   prints the PID (pinned to CPU
#                                                            when CPU is not empty)
#   scripts/nginx.sh stop PID
# KEEPALIVE_REQUESTS in the environment: how many requests nginx answers on a connection before
# it closes it, saying `Connection: close` on the last (default 1,000,000).
# Everything lives in a temporary directory; nothing system-wide is touched.
set -euo pipefail

cmd=${1:?usage: nginx.sh start PORT [WORKERS] [CPU] [TLS_PORT] | stop PID}
case "$cmd" in
start)
    port=${2:?port}
    workers=${3:-1}
    cpu=${4:-}
    tls_port=${5:-}
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$nginx_bin" ] || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 2; }
    dir=$(mktemp -d /tmp/blast-nginx.XXXXXX)
    rm -f "/tmp/blast-nginx-$port.sock"
    tls_listen=""
    if [ -n "$tls_port" ]; then
        "$(dirname "$0")/tls-cert.sh" "$dir"
        cp "$dir/ca.pem" "/tmp/blast-nginx-$port-ca.pem"
        tls_listen="listen 127.0.0.1:$tls_port ssl reuseport backlog=4096;
        ssl_certificate $dir/server.pem;
        ssl_certificate_key $dir/server.key;"
    fi
    printf '{"prediction":1,"pad":"%s"}' "$(head -c 100000 /dev/zero | tr '\0' x)" >"$dir/large.json"
    cat >"$dir/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests ${KEEPALIVE_REQUESTS:-1000000};
    keepalive_timeout 120s;
    client_body_temp_path $dir;
    proxy_temp_path $dir;
    fastcgi_temp_path $dir;
    uwsgi_temp_path $dir;
    scgi_temp_path $dir;
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        listen unix:/tmp/blast-nginx-$port.sock;
        $tls_listen
        location = /predict {
            default_type application/json;
            return 200 '{"prediction":1}';
        }
        location = /health { return 200 'ok'; }
        location = /large {
            default_type application/json;
            alias $dir/large.json;
        }
        location / { return 404; }
    }
}
CONF
    if [ -n "$cpu" ]; then
        taskset -c "$cpu" "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>"$dir/stderr.log" &
    else
        "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" >/dev/null 2>"$dir/stderr.log" &
    fi
    pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$pid"; exit 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "nginx did not start on port $port: $(cat "$dir/stderr.log" "$dir/error.log" 2>/dev/null)" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
    ;;
stop)
    pid=${2:?pid}
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    ;;
*) echo "usage: nginx.sh start PORT [WORKERS] [CPU] [TLS_PORT] | stop PID" >&2; exit 2 ;;
esac
