#!/usr/bin/env python3
"""blast vs wrk against the same nginx, in one run.

nginx (1 worker) is pinned to one CPU and every client to another, so client and server never
share a core. Each (client, connections) pair runs REPEATS times; the table shows medians with
min-max spread of: RPS, p50, p99, client CPU per request (user and system, microseconds, from
getrusage of the client process), and the client's peak RSS. Ratios against wrk follow.

    bench/compare.py [--duration 10] [--repeats 3] [--connections 64,256]
                     [--server-cpu 1] [--client-cpu 0] [--rss-run 60]

--rss-run N adds one N-second blast run sampling its RSS every second (flat = bounded memory).
Needs: cargo, nginx and wrk (scripts/setup.sh installs them).
"""
import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLAST = os.path.join(ROOT, "target", "release", "blast")
CHECK = ["--expect-status", "200", "--expect-json", "prediction=0|1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_PIDS = []


def server_cpu_seconds():
    """CPU seconds (user + system) used so far by the server's processes."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in SERVER_PIDS:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


def blast_run(driver, conns, duration, cpu, url):
    cmd = ["taskset", "-c", cpu, BLAST, "--driver", driver, "-c", str(conns), "-d", str(duration),
           *CHECK, "--json", "-", url]
    return measure(cmd, parse_blast)


def wrk_run(conns, duration, cpu, url):
    cmd = ["taskset", "-c", cpu, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", url]
    return measure(cmd, parse_wrk)


def measure(cmd, parse):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server_cpu_seconds()
    proc = subprocess.run(["/usr/bin/time", "-f", "RSS_KB=%M"] + cmd, capture_output=True, text=True)
    server_used = server_cpu_seconds() - server_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    rss_kb = int(re.search(r"RSS_KB=(\d+)", proc.stderr).group(1))
    rps, p50, p99, requests = parse(proc.stdout)
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    return {
        "rps": rps, "p50": p50, "p99": p99,
        "user_us": user / requests * 1e6, "sys_us": system / requests * 1e6,
        "cpu_us": (user + system) / requests * 1e6, "rss_mb": rss_kb / 1024,
        "server_us": server_used / requests * 1e6,
    }


def parse_blast(out):
    r = json.loads(out)
    if r["failures"]:
        sys.exit(f"blast saw failures: {r['errors']}")
    return r["rps"], r["latency_us"]["p50"], r["latency_us"]["p99"], r["requests"]


def wrk_time(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = wrk_time(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = wrk_time(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    if "Non-2xx" in out or "Socket errors" in out:
        sys.exit(f"wrk saw errors:\n{out}")
    return rps, p50, p99, requests


def spread(values, fmt):
    med = statistics.median(values)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"


def rss_run(seconds, cpu, url):
    """One long blast run; samples VmRSS each second."""
    cmd = ["taskset", "-c", cpu, BLAST, "-c", "256", "-d", str(seconds), *CHECK, url]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            samples.append(kb / 1024)
        except (OSError, AttributeError):
            pass
        time.sleep(1)
    return samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--connections", default="64,256")
    ap.add_argument("--server-cpu", default="1")
    ap.add_argument("--client-cpu", default="0")
    ap.add_argument("--rss-run", type=int, default=0)
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"{tool} is missing: run scripts/setup.sh")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)

    port = free_port()
    pid = subprocess.run([os.path.join(ROOT, "scripts", "nginx.sh"), "start", str(port), "1", args.server_cpu],
                         capture_output=True, text=True, check=True).stdout.strip()
    url = f"http://127.0.0.1:{port}/predict"
    SERVER_PIDS.append(pid)
    SERVER_PIDS.extend(subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split())
    clients = {
        "blast io_uring": lambda c: blast_run("uring", c, args.duration, args.client_cpu, url),
        "blast epoll": lambda c: blast_run("epoll", c, args.duration, args.client_cpu, url),
        "wrk": lambda c: wrk_run(c, args.duration, args.client_cpu, url),
    }
    results = {}
    try:
        for conns in [int(c) for c in args.connections.split(",")]:
            for rep in range(args.repeats):
                # Interleave clients so that drift on a shared machine hits all of them alike.
                for name, run in clients.items():
                    results.setdefault((name, conns), []).append(run(conns))
        rss = rss_run(args.rss_run, args.client_cpu, url) if args.rss_run else None
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "nginx.sh"), "stop", pid])

    print(f"nginx 1 worker on CPU {args.server_cpu}; clients on CPU {args.client_cpu}; "
          f"{args.duration}s x {args.repeats} runs; median (min-max)")
    print("blast checks every response: --expect-status 200 --expect-json 'prediction=0|1'; wrk checks nothing\n")
    header = ("| client | conns | RPS | p50 us | p99 us | CPU us/req | user us/req | sys us/req "
              "| peak RSS MB | server CPU us/req |")
    print(header)
    print("|" + "---|" * 10)
    for (name, conns), runs in results.items():
        col = lambda key, fmt: spread([r[key] for r in runs], fmt)
        print(f"| {name} | {conns} | {col('rps', lambda v: f'{v:,.0f}')} | {col('p50', lambda v: f'{v:.0f}')} "
              f"| {col('p99', lambda v: f'{v:.0f}')} | {col('cpu_us', lambda v: f'{v:.2f}')} "
              f"| {col('user_us', lambda v: f'{v:.2f}')} | {col('sys_us', lambda v: f'{v:.2f}')} "
              f"| {col('rss_mb', lambda v: f'{v:.1f}')} | {col('server_us', lambda v: f'{v:.2f}')} |")
    print("\nRatios to wrk (median; CPU/request < 1 and RPS ~ 1 are the targets):\n")
    print("| client | conns | RPS ratio | CPU/request ratio | RSS ratio |")
    print("|---|---|---|---|---|")
    for (name, conns), runs in results.items():
        if name == "wrk":
            continue
        wrk = results[("wrk", conns)]
        med = lambda rs, k: statistics.median(r[k] for r in rs)
        print(f"| {name} | {conns} | {med(runs, 'rps') / med(wrk, 'rps'):.3f} "
              f"| {med(runs, 'cpu_us') / med(wrk, 'cpu_us'):.3f} | {med(runs, 'rss_mb') / med(wrk, 'rss_mb'):.2f} |")
    if rss:
        print(f"\nRSS over a {args.rss_run}s run at 256 connections (MiB, one sample per second): "
              f"first {rss[0]:.1f}, after 5 s {rss[min(5, len(rss) - 1)]:.1f}, last {rss[-1]:.1f}, max {max(rss):.1f}")


if __name__ == "__main__":
    main()
