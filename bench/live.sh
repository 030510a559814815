#!/bin/sh
# blast with --web and --metrics-listen on (ports chosen by the system, no linger), as a
# client for bench/ab.sh, to measure what the live outputs cost the load path:
#   bench/ab.sh 7 target/release/blast bench/live.sh
exec "${BLAST:-target/release/blast}" --web 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --metrics-linger 0s "$@"
