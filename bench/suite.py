#!/usr/bin/env python3
"""blast against other HTTP load generators, on the same targets, in one run.

Every target is pinned to its own CPU(s) and every client to others (or, with --shared, both
share all CPUs: the "same box as Gunicorn" case). Each (target, connections, client) cell runs
--repeats times, clients interleaved so that drift on a shared machine hits all alike; the
tables show medians with min-max spread of: RPS, p50, p99, client CPU per request (user and
system, from wait4), peak client RSS, server CPU per request (from /proc), and the
Little's-law ratio mean latency x RPS / connections (1.0 means the latency is measured over
the whole request cycle; below 1 means time goes unmeasured), and for multi-process targets
(Gunicorn) the worker balance: how evenly the client's connections landed on the server's
worker processes (1.0 even; Gunicorn's workers share one listening socket, and a burst of
connections can land mostly on one of them, which halves the server's capacity).

    bench/suite.py                                     # blast vs wrk on nginx, 64 and 256 conns
    bench/suite.py --targets nginx,serve,uvicorn,gunicorn \\
                   --clients blast-uring,blast-epoll,wrk,oha,hey,ab --connections 256,1000
    bench/suite.py --shared --targets gunicorn --connections 256
    bench/suite.py --rss-run 60                        # adds a 60 s blast run sampling RSS
    bench/suite.py --targets serve --server-cpus 8-15 --scaling 1,2,4,8   # client-core scaling

Client "floor" is bench/floor.c, a minimal epoll client in C (built here with gcc): the
raw-syscall floor of CPU per request, with no latency clock and no checks. Client
"runtime-floor" is bench/runtime_floor.rs (built here with cargo): the same least work on
blast's runtime (monoio's io_uring driver, set up as blast sets it up), which separates what the
runtime costs per request from what blast's checks, clock and statistics add.
Clients missing on the machine are skipped with a note (scripts/setup.sh installs nginx, wrk,
hey, ab; `cargo install oha` adds oha). Each client sends GET /predict; blast also checks every
response (--expect-status 200 --expect-json 'prediction=0|1'); the others check nothing.
"""
import argparse
import math
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLAST = os.path.join(ROOT, "target", "release", "blast")
CHECK = ["--expect-status", "200", "--expect-json", "prediction=0|1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- targets

class Target:
    """A server started pinned to `cpus`; knows its PIDs for CPU accounting."""

    def __init__(self, name, cpus):
        self.name, self.cpus, self.port = name, cpus, free_port()
        self.url = f"http://127.0.0.1:{self.port}/predict"
        self.pid, self.proc = self.start()
        time.sleep(0.3)
        self.pids = [self.pid] + subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True,
                                                text=True).stdout.split()

    def start(self):
        script = lambda name, *args: subprocess.run([os.path.join(ROOT, "scripts", name), "start", *args],
                                                    capture_output=True, text=True, check=True).stdout.strip()
        if self.name == "nginx":
            return int(script("nginx.sh", str(self.port), "1", self.cpus)), None
        if self.name == "uvicorn":
            return int(script("fastapi.sh", str(self.port), "1", self.cpus, "uvicorn")), None
        if self.name == "gunicorn":
            workers = str(max(2, len(expand(self.cpus))))
            return int(script("fastapi.sh", str(self.port), workers, self.cpus, "gunicorn")), None
        if self.name == "serve":
            proc = subprocess.Popen(["taskset", "-c", self.cpus, BLAST, "serve", "--listen",
                                     f"127.0.0.1:{self.port}"], stderr=subprocess.DEVNULL)
            return proc.pid, proc
        sys.exit(f"unknown target {self.name}")

    def cpu_seconds(self):
        total, tick = 0.0, os.sysconf("SC_CLK_TCK")
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                pass
        return total

    def worker_balance(self):
        """How evenly the established client connections are spread over the target's worker
        processes: the least-loaded worker's count times the number of workers over the total
        (1.0 even, 0.0 a worker has none). NaN for one-process targets. Gunicorn's workers
        accept from one shared socket, so a burst of connections can land mostly on one of
        them, which halves the server's capacity whatever the client."""
        if len(self.pids) < 3:  # the master and fewer than two workers
            return math.nan
        ss = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{self.port} )"],
                            capture_output=True, text=True).stdout
        owners = re.findall(r"pid=(\d+)", ss)
        counts = [owners.count(pid) for pid in self.pids[1:]]
        return min(counts) * len(counts) / sum(counts) if sum(counts) else math.nan

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
        else:
            script = "nginx.sh" if self.name == "nginx" else "fastapi.sh"
            subprocess.run([os.path.join(ROOT, "scripts", script), "stop", str(self.pid)])


def expand(cpus):
    out = []
    for part in cpus.split(","):
        low, _, high = part.partition("-")
        out.extend(range(int(low), int(high or low) + 1))
    return out


# ---------------------------------------------------------------- clients
# Each returns (command, parser); a parser returns rps, p50 us, p99 us, mean us, requests.

def secs(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6, "secs": 1e6}[unit]


def blast_client(driver):
    def command(conns, duration, url, threads):
        return [BLAST, "--driver", driver, "-t", str(threads), "-c", str(conns), "-d", str(duration), *CHECK, "--json", "-", url]

    def parse(out):
        r = json.loads(out)
        if r["failures"]:
            raise RuntimeError(f"blast saw failures: {r['errors']}")
        lat = r["latency_us"]
        return r["rps"], lat["p50"], lat["p99"], lat["mean"], r["requests"]
    return command, parse


def wrk_command(conns, duration, url, threads):
    return ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", url]


def wrk_parse(out):
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    t = lambda pattern: secs(*re.search(pattern, out, re.M).groups())
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), t(r"^\s+50%\s+([\d.]+)(us|ms|s)"),
            t(r"^\s+99%\s+([\d.]+)(us|ms|s)"), t(r"Latency\s+([\d.]+)(us|ms|s)"),
            int(re.search(r"(\d+) requests in", out).group(1)))


def oha_command(conns, duration, url, _threads):
    return ["oha", "-z", f"{duration}s", "-c", str(conns), "--no-tui", "--output-format", "json", url]


def oha_parse(out):
    r = json.loads(out)
    requests = sum(r["statusCodeDistribution"].values())
    if set(r["statusCodeDistribution"]) != {"200"}:
        raise RuntimeError(f"oha saw {r['statusCodeDistribution']}")
    pct = r["latencyPercentiles"]
    return r["summary"]["requestsPerSec"], pct["p50"] * 1e6, pct["p99"] * 1e6, r["summary"]["average"] * 1e6, requests


def hey_command(conns, duration, url, _threads):
    return ["hey", "-z", f"{duration}s", "-c", str(conns), url]


def hey_parse(out):
    codes = re.findall(r"\[(\d+)\]\s+(\d+) responses", out)
    if any(code != "200" for code, _ in codes):
        raise RuntimeError(f"hey saw {codes}")
    t = lambda pattern: float(re.search(pattern, out).group(1)) * 1e6
    return (float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), t(r"50%+ in ([\d.]+) secs"),
            t(r"99%+ in ([\d.]+) secs"), t(r"Average:\s+([\d.]+) secs"), sum(int(n) for _, n in codes))


def ab_command(conns, duration, url, _threads):
    return ["ab", "-k", "-q", "-c", str(conns), "-t", str(duration), "-n", "100000000", url]


def ab_parse(out):
    if re.search(r"Non-2xx responses:\s+[1-9]", out):
        raise RuntimeError("ab saw non-2xx responses")
    ms = lambda pattern: float(re.search(pattern, out, re.M).group(1)) * 1e3
    return (float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)), ms(r"^\s+50%\s+(\d+)"),
            ms(r"^\s+99%\s+(\d+)"), ms(r"^Total:\s+\d+\s+(\d+)"),
            int(re.search(r"Complete requests:\s+(\d+)", out).group(1)))


FLOOR = os.path.join(ROOT, "target", "floor")
RUNTIME_FLOOR = os.path.join(ROOT, "target", "release", "examples", "runtime_floor")


def floor_client(program):
    """A floor client's (command, parse): `program HOST PORT PATH CONNECTIONS SECONDS`."""
    def command(conns, duration, url, _threads):
        host_port = url.split("//")[1].split("/")[0]
        host, port = host_port.split(":")
        return [program, host, port, "/" + url.split("//")[1].split("/", 1)[1], str(conns), str(duration)]
    return command, floor_parse


def floor_parse(out):
    requests, seconds = re.search(r"requests (\d+) seconds ([\d.]+)", out).groups()
    nan = float("nan")
    return int(requests) / float(seconds), nan, nan, nan, int(requests)


CLIENTS = {
    "floor": (floor_client(FLOOR), FLOOR),
    "runtime-floor": (floor_client(RUNTIME_FLOOR), RUNTIME_FLOOR),
    "blast-uring": (blast_client("uring"), BLAST),
    "blast-epoll": (blast_client("epoll"), BLAST),
    "wrk": ((wrk_command, wrk_parse), "wrk"),
    "oha": ((oha_command, oha_parse), "oha"),
    "hey": ((hey_command, hey_parse), "hey"),
    "ab": ((ab_command, ab_parse), "ab"),
}


def reap(pid):
    """Waits for a client: its exit status, its own rusage (CPU time) and its peak RSS in KiB.

    ru_maxrss would count the Python parent's pages, which the child holds until exec, so
    the peak comes from the exec'd program's VmHWM, read until it exits."""
    rss_kb = 0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, rss_kb
        time.sleep(0.1)
        try:
            with open(f"/proc/{pid}/status") as f:
                rss_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass


def measure(client, conns, duration, cpus, target):
    (command, parse), _ = CLIENTS[client]
    cmd = ["taskset", "-c", cpus] + command(conns, duration, target.url, len(expand(cpus)))
    server_before = target.cpu_seconds()
    # wait4 gives this one client's CPU time and peak RSS (taskset execs into the client).
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file)
        # Once the connections are open: how they are spread over the server's workers.
        balance = [math.nan]
        probe = threading.Timer(min(1.0, duration / 2), lambda: balance.__setitem__(0, target.worker_balance()))
        probe.start()
        status, usage, rss_kb = reap(proc.pid)
        probe.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0), err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    server_used = target.cpu_seconds() - server_before
    try:
        rps, p50, p99, mean, requests = parse(out)
    except Exception as e:  # a client that failed is reported, not fatal
        print(f"  {client} on {target.name} at {conns}: {e} {err.strip()[-300:]}", file=sys.stderr)
        return None
    user, system = usage.ru_utime, usage.ru_stime
    return {"rps": rps, "p50": p50, "p99": p99, "user": user / requests * 1e6, "sys": system / requests * 1e6,
            "cpu": (user + system) / requests * 1e6, "rss": rss_kb / 1024,
            "server": server_used / requests * 1e6, "little": mean * rps / 1e6 / conns, "balance": balance[0]}


def rss_run(seconds, cpus, url):
    cmd = ["taskset", "-c", cpus, BLAST, "-c", "256", "-d", str(seconds), *CHECK, url]
    proc, samples = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), []
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                samples.append(int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024)
        except (OSError, AttributeError):
            pass
        time.sleep(1)
    return samples


def table(results, reference):
    fmt = {"rps": "{:,.0f}", "p50": "{:.0f}", "p99": "{:.0f}", "cpu": "{:.2f}", "user": "{:.2f}",
           "sys": "{:.2f}", "rss": "{:.1f}", "server": "{:.2f}", "little": "{:.2f}", "balance": "{:.2f}"}
    cols = ["rps", "p50", "p99", "cpu", "user", "sys", "rss", "server", "little", "balance"]
    print("| target | client cores | conns | client | RPS | p50 µs | p99 µs | client CPU µs/req | user | sys | peak RSS MB "
          "| server CPU µs/req | Little ratio | worker balance | RPS vs " + reference + " | CPU/req vs " + reference + " |")
    print("|" + "---|" * 16)
    for (target, cores, conns, client), runs in results.items():
        runs = [r for r in runs if r]
        if not runs:
            continue
        med = {k: statistics.median(r[k] for r in runs) for k in cols}
        cell = lambda k: ("-" if math.isnan(med[k]) else fmt[k].format(med[k]) if len(runs) == 1 else
                          f"{fmt[k].format(med[k])} ({fmt[k].format(min(r[k] for r in runs))}-"
                          f"{fmt[k].format(max(r[k] for r in runs))})")
        ref = [r for r in results.get((target, cores, conns, reference), []) if r]
        ratio = lambda k: f"{med[k] / statistics.median(r[k] for r in ref):.2f}" if ref else "-"
        print(f"| {target} | {cores} | {conns} | {client} | " + " | ".join(cell(k) for k in cols) +
              f" | {ratio('rps')} | {ratio('cpu')} |")


def build(clients):
    """Builds blast (and the floor clients named); where no compiler is installed (a benchmark
    box that was handed the binaries), what is already built is used."""
    clients = clients.split(",")
    if shutil.which("cargo"):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        if "runtime-floor" in clients:
            subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "runtime_floor"],
                           cwd=ROOT, check=True)
    if "floor" in clients and shutil.which("gcc"):
        subprocess.run(["gcc", "-O2", "-o", FLOOR, os.path.join(ROOT, "bench", "floor.c")], check=True)


def setups(args):
    """(client CPUs, connections) for each row: the given ones, or with --scaling, the first n
    CPUs the server does not use and n times each connection count."""
    conns = [int(c) for c in args.connections.split(",")]
    if not args.scaling:
        return [(args.client_cpus, c) for c in conns]
    server = set(expand(args.server_cpus))
    free = [cpu for cpu in sorted(os.sched_getaffinity(0)) if cpu not in server]
    return [(",".join(map(str, free[:n])), c * n) for n in map(int, args.scaling.split(","))
            if n <= len(free) for c in conns]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="nginx")
    ap.add_argument("--clients", default="blast-uring,blast-epoll,wrk")
    ap.add_argument("--connections", default="64,256")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--server-cpus", default="1")
    ap.add_argument("--client-cpus", default="0")
    ap.add_argument("--shared", action="store_true", help="server and client both on all CPUs")
    ap.add_argument("--reference", default="wrk", help="client the ratios compare with")
    ap.add_argument("--rss-run", type=int, default=0)
    ap.add_argument("--scaling", help="client core counts, e.g. 1,2,4,8: each runs on that many of the CPUs "
                    "not in --server-cpus, with --connections per client core")
    args = ap.parse_args()
    if args.shared:
        args.server_cpus = args.client_cpus = f"0-{os.cpu_count() - 1}"
    build(args.clients)
    clients = []
    for name in args.clients.split(","):
        if shutil.which(CLIENTS[name][1]) or os.path.exists(CLIENTS[name][1]):
            clients.append(name)
        else:
            print(f"note: {name} is not installed; skipped", file=sys.stderr)
    results = {}
    rss = None
    for target_name in args.targets.split(","):
        target = Target(target_name, args.server_cpus)
        try:
            for cpus, conns in setups(args):
                for _ in range(args.repeats):
                    for client in clients:
                        results.setdefault((target_name, len(expand(cpus)), conns, client), []).append(
                            measure(client, conns, args.duration, cpus, target))
            if args.rss_run and rss is None:
                rss = rss_run(args.rss_run, args.client_cpus, target.url)
        finally:
            target.stop()
    where = ("sharing all CPUs" if args.shared else f"server on CPU {args.server_cpus}, clients on CPU "
             f"{'the others' if args.scaling else args.client_cpus}")
    print(f"{where}; {args.duration}s x {args.repeats} runs per cell; median (min-max)\n")
    table(results, args.reference)
    if rss:
        print(f"\nblast RSS over a {args.rss_run}s run at 256 connections (MiB, sampled each second): "
              f"after 5 s {rss[min(5, len(rss) - 1)]:.1f}, last {rss[-1]:.1f}, max {max(rss):.1f}")


if __name__ == "__main__":
    main()
