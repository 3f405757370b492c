#!/usr/bin/env python3
"""What observability costs: ka-hello with and without --metrics-bind and the JSON access log.

Every variant is `hatchway serve --workers 1` (so the supervisor that serves /metrics exists in all of
them); the worker is pinned to one CPU, wrk to another.  Rounds are interleaved so drift hits every
variant alike; the table shows the median req/s and the ratio to the plain variant in the same run.

    python3 bench/observability.py                   # 5 rounds x 5 s
    python3 bench/observability.py --rounds 3 --seconds 3

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--wrk-cpu", default="1")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    opts = ap.parse_args()
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
