#!/usr/bin/env bash
# Installs what blast's tests and the nginx demo need on a fresh Debian/Ubuntu machine:
# nginx, wrk, curl, iproute2, openssl, chromium-headless-shell, prometheus (apt) and the FastAPI stack
# (pip).
# Skips what is already there.
#   scripts/setup.sh --bench   also installs the benchmark peers: hey, ab (apt) and oha (cargo)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v taskset >/dev/null 2>&1 || need_apt+=(util-linux)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need_apt+=(iproute2)
# scripts/tls-cert.sh makes the https tests' certificates; ca-certificates is the system
# trust blast reads by default.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
[ -d /etc/ssl/certs ] && ls /etc/ssl/certs/*.pem >/dev/null 2>&1 || need_apt+=(ca-certificates)
# A real browser opens the --html reports in tests/html.rs and --web's page in tests/live.rs.
command -v chromium-headless-shell >/dev/null 2>&1 || need_apt+=(chromium-headless-shell)
# A real Prometheus scrapes --metrics-listen in tests/live.rs.
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
if [ "${1:-}" = "--bench" ]; then
    command -v hey >/dev/null 2>&1 || need_apt+=(hey)
    command -v ab >/dev/null 2>&1 || need_apt+=(apache2-utils)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    # No recommends: prometheus would bring its node exporter, a service of its own.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import fastapi, uvicorn, gunicorn, aiosqlite, python_multipart, locust, hdrh, websocket, kubernetes_validate, yaml' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
fi

if [ "${1:-}" = "--bench" ] && ! command -v oha >/dev/null 2>&1; then
    cargo install --locked oha
fi
