#!/bin/bash
# Packs the benchmark clients and nginx, with every shared library they load and this
# machine's dynamic loader, into one folder that runs on another x86-64 Linux machine with no
# network and no packages (how the later 16-core rows in docs/benchmarks.md were taken):
#   bench/bundle.sh DIR        then, on the other machine, from a copy of this repository:
#   PATH=$PWD/DIR/bin:$PATH bench/ab.sh 3 DIR/bin/blast wrk floor
# Each program runs through the bundled loader with the bundled libraries, so the other
# machine's C library version does not matter. DIR/bin/floor is bench/floor.c, built here;
# bench/ab.sh finds the floors under target/, so link DIR/bin/floor to target/floor and
# DIR/bin/runtime_floor to target/release/examples/runtime_floor there.
# Needs target/release/blast (cargo build --release), the runtime floor (cargo build --release
# --example runtime_floor), gcc, and the peers (scripts/setup.sh
# --bench); a missing peer is left out with a note. GNU time is bundled too: the bench scripts
# call /usr/bin/time, so link it there if the other machine has none.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: bench/bundle.sh DIR}
rm -rf "$dir" && mkdir -p "$dir/bin" "$dir/real" "$dir/lib"
gcc -O2 -o "$dir/bin/floor" bench/floor.c
cp -L /lib64/ld-linux-x86-64.so.2 "$dir/lib/"
for prog in target/release/blast target/release/examples/runtime_floor wrk oha hey nginx /usr/bin/time; do
    path=$(command -v "$prog" || true)
    [ -n "$path" ] || { echo "not bundled: $prog is not installed" >&2; continue; }
    name=$(basename "$path")
    cp -L "$path" "$dir/real/$name"
    ldd "$path" | awk '/=> \// {print $3}' | xargs -r cp -L -t "$dir/lib/"
    # The wrapper finds the bundle from its own resolved path, so a symlink to it works too.
    cat >"$dir/bin/$name" <<'WRAP'
#!/bin/sh
d=$(dirname "$(readlink -f "$0")")/..
exec "$d/lib/ld-linux-x86-64.so.2" --library-path "$d/lib" "$d/real/$(basename "$(readlink -f "$0")")" "$@"
WRAP
    chmod +x "$dir/bin/$name"
done
du -sh "$dir"
