#!/usr/bin/env python3
"""What observability costs: ka-hello with and without --metrics-bind and the JSON access log.

Every variant is `hatchway serve --workers 1` (so the supervisor that serves /metrics exists in all of
them); the worker is pinned to one CPU, wrk to another.  Rounds are interleaved so drift hits every
variant alike; the table shows the median req/s and the ratio to the plain variant in the same run.

    python3 bench/observability.py                   # 5 rounds x 5 s
    python3 bench/observability.py --rounds 3 --seconds 3
    python3 bench/observability.py --hotpath         # in-process µs/request, no wrk: steadier
    python3 bench/observability.py --instructions --n 2000   # instructions/request under valgrind

Not run in CI: speed is measured here, as ratios, never asserted in tests.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = """
BODY = b"Hello, world!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]

def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
"""
VARIANTS = {
    "plain": [],
    "metrics": ["--metrics-bind", "127.0.0.1:0"],
    "json-log": ["--access-log", "{tmp}/access.log", "--access-log-format", "json"],
    "metrics+json-log": ["--metrics-bind", "127.0.0.1:0", "--access-log", "{tmp}/access.log",
                         "--access-log-format", "json"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not come up")


def run_cell(tmp: str, args: list, seconds: float, server_cpu: str, wrk_cpu: str) -> float:
    port = free_port()
    args = [a.replace("{tmp}", tmp) for a in args]
    log = os.path.join(tmp, "access.log")
    if os.path.exists(log):
        os.unlink(log)
    cmd = ["taskset", "-c", server_cpu, sys.executable, "-m", "hatchway", "serve", "app:app", "--workers", "1",
           "-b", f"127.0.0.1:{port}", "--error-log", os.path.join(tmp, "error.log"), *args]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_port(port, time.monotonic() + 20)
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["taskset", "-c", wrk_cpu, "wrk", "-t1", "-c50", "-d1s", url], capture_output=True)
        out = subprocess.run(["taskset", "-c", wrk_cpu, "wrk", "-t1", "-c50", f"-d{seconds:g}s", url],
                             capture_output=True, text=True).stdout
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not m or "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"wrk run failed or saw errors:\n{out}")
        return float(m.group(1))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def instructions(n: int) -> None:
    """Instructions per request under valgrind (callgrind's Ir), deterministic on a busy machine:
    each variant runs n and 2n requests in fresh processes; the difference / n is one request."""
    def count(kind, requests):
        out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                              sys.executable, os.path.abspath(__file__), "--one", kind, "--n", str(requests)],
                             capture_output=True, text=True)
        m = re.search(r"Collected : (\d+)", out.stderr)
        if not m or out.returncode:  # a variant that failed (no httptools...) must not print a figure
            raise RuntimeError(out.stderr[-2000:])
        return int(m.group(1))

    kinds = ["plain", "metrics", "json-log"]
    per = {k: (count(k, 2 * n) - count(k, n)) / n for k in kinds}
    print(f"instructions per request (valgrind callgrind, ({2 * n} - {n} requests) / {n})")
    print("| variant | instructions/request | vs plain |")
    print("|---|---|---|")
    for k in kinds:
        print(f"| {k} | {per[k]:,.0f} | {per[k] / per['plain']:.3f} |")


def hotpath(rounds: int, n: int, only: str | None = None) -> None:
    """The inline hot path of one keep-alive connection (as bench/hotpath.py), per variant."""
    import logging
    import select

    sys.path.insert(0, ROOT)
    from hatchway.server.config import ServerConfig
    from hatchway.server.lifecycle import ServingState
    from hatchway.server.listeners import open_listeners
    from hatchway.server.metrics import WorkerMetrics
    from hatchway.wsgi.serving import WSGIServer

    request = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
    ns = {}
    exec(APP, ns)
    tmp = tempfile.mkdtemp(prefix="hatchway-obs-")
    access = logging.getLogger("hatchway.access")
    access.propagate = False
    handler = logging.FileHandler(os.path.join(tmp, "access.log"))
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)

    def make(kind):
        state = ServingState()
        cfg = ServerConfig()
        if "metrics" in kind:
            state.metrics = WorkerMetrics()
            cfg = cfg.updated(metrics=True)
        if "json" in kind:
            cfg = cfg.updated(access_log=True, access_log_format="json")
        access.setLevel(logging.INFO if "json" in kind else logging.CRITICAL + 1)
        listeners = open_listeners(["127.0.0.1:0"])
        srv = WSGIServer(listeners, ns["app"], cfg, state=state)
        client = socket.create_connection(listeners[0].address)
        server_sock, addr = listeners[0].sock.accept()
        server_sock.setblocking(False)
        worker = srv.worker
        worker._epoll = select.epoll()
        conn = srv._connection(worker, server_sock, addr, listeners[0])
        worker.conns[conn.fd] = conn
        worker._epoll.register(conn.fd, 1)
        return client, conn

    def run(client, conn, count):
        send, recv, on_readable = client.send, client.recv, conn.on_readable
        t0 = time.perf_counter()
        for _ in range(count):
            send(request)
            on_readable()
            recv(65536)
        return (time.perf_counter() - t0) / count * 1e6

    kinds = [only] if only else ["plain", "metrics", "json-log"]
    setups = {k: make(k) for k in kinds}
    if only:
        client, conn = setups[only]
        run(client, conn, n)
        metrics = conn.gateway.observer.metrics if conn.gateway.observer else None
        if metrics is not None:
            metrics.snapshot(conn.worker.conns)  # the once-a-second fold belongs to the cost
        return
    results = {k: [] for k in kinds}
    for k in kinds:
        access.setLevel(logging.INFO if "json" in k else logging.CRITICAL + 1)
        run(*setups[k], 2000)
    for _ in range(rounds):
        for k in kinds:
            access.setLevel(logging.INFO if "json" in k else logging.CRITICAL + 1)
            results[k].append(run(*setups[k], n))
    import cProfile
    import pstats

    calls = {}
    for k in kinds:  # deterministic, unlike time on a shared machine: Python calls per request
        access.setLevel(logging.INFO if "json" in k else logging.CRITICAL + 1)
        prof = cProfile.Profile()
        prof.enable()
        run(*setups[k], 2000)
        prof.disable()
        calls[k] = pstats.Stats(prof).total_calls / 2000
    base = statistics.median(results["plain"])
    print(f"inline hot path, one keep-alive connection, {rounds} interleaved rounds x {n} requests")
    print("| variant | µs/request (median) | vs plain | Python calls/request |")
    print("|---|---|---|---|")
    for k in kinds:
        med = statistics.median(results[k])
        print(f"| {k} | {med:.2f} | {med / base:.3f} | {calls[k]:.1f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hotpath", action="store_true", help="in-process µs/request instead of wrk")
    ap.add_argument("--n", type=int, default=20000, help="--hotpath: requests per round")
    ap.add_argument("--instructions", action="store_true", help="instructions per request under valgrind")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # one variant, n requests (for --instructions)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--wrk-cpu", default="1")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    opts = ap.parse_args()
    if opts.one:
        hotpath(1, opts.n, opts.one)
        return 0
    if opts.instructions:
        instructions(opts.n)
        return 0
    if opts.hotpath:
        hotpath(opts.rounds, opts.n)
        return 0
    names = opts.variants.split(",")
    results = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="hatchway-obs-") as tmp:
        with open(os.path.join(tmp, "app.py"), "w") as f:
            f.write(APP)
        for r in range(opts.rounds):
            for name in names:
                rps = run_cell(tmp, VARIANTS[name], opts.seconds, opts.server_cpu, opts.wrk_cpu)
                results[name].append(rps)
                print(f"round {r + 1} {name:18s} {rps:10.0f} req/s", flush=True)
    base = statistics.median(results[names[0]])
    print(f"\nka-hello, hatchway --workers 1, wrk -t1 -c50 -d{opts.seconds:g}s, median of {opts.rounds} rounds")
    print("| variant | req/s (median) | vs plain | runs |")
    print("|---|---|---|---|")
    for name in names:
        med = statistics.median(results[name])
        runs = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"| {name} | {med:,.0f} | {med / base:.3f} | {runs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
