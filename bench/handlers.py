"""The handler API's cost: server CPU per request for an http.server-style `do_GET` hello against
the same hello as a plain WSGI application, on the same engine (issue 12: within 10%).

    python3 bench/handlers.py [--rounds 5] [--duration 4] [--threads 0]

Each round starts `hatchway serve bench.apps:hello` (WSGI) and the same command with
`--handler bench.handlers:Hello`, pinned to CPU 0, loaded by wrk -t1 -c50 (keep-alive) pinned to
CPU 1; the variants alternate order from round to round.  CPU time is the server process's
utime + stime over the measured window (bench/cpu_per_request.py), divided by the requests wrk
completed.  Medians are printed, and the handler's ratio to WSGI.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.cpu_per_request import ROOT, cpu_seconds  # noqa: E402
from hatchway.http.server import BaseHTTPRequestHandler  # noqa: E402

HELLO = b"Hello, World!"  # the 13 bytes of bench.apps.hello


class Hello(BaseHTTPRequestHandler):
    """bench.apps.hello as a handler: the same status, headers and body."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "13")
        self.end_headers()
        self.wfile.write(HELLO)

    def log_message(self, format: str, *args: object) -> None:
        pass  # as the WSGI hello: no access log line per request


def one(target: list[str], threads: str, duration: float) -> tuple[float, float]:
    """(server CPU µs per request, req/s) of one fresh `hatchway serve <target>` under wrk.
    Like cpu_per_request.one, which only starts bench.apps applications."""
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "hatchway", "serve", *target,
                             "--bind", "127.0.0.1:0", "--threads", threads], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while port is None and time.monotonic() < deadline:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", proc.stderr.readline())
            port = int(m.group(1)) if m else None
        if port is None:
            raise RuntimeError(f"the server did not start: {target}")
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c50", f"http://127.0.0.1:{port}/"]
        subprocess.run([*wrk, "-d1s"], capture_output=True, timeout=30)  # warm-up
        before = cpu_seconds(proc.pid)
        out = subprocess.run([*wrk, f"-d{duration}s"], capture_output=True, text=True, timeout=60).stdout
        used = cpu_seconds(proc.pid) - before
        done = re.search(r"(\d+) requests in", out)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if done is None or rps is None:
            raise RuntimeError(f"wrk gave no figures: {out!r}")
        return used / int(done.group(1)) * 1e6, float(rps.group(1))
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--threads", default="0", help="--threads for both servers (0: inline)")
    opts = ap.parse_args()
    variants = [("wsgi", ["bench.apps:hello"]), ("handler", ["--handler", "bench.handlers:Hello"])]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    for r in range(opts.rounds):
        for name, args in (variants if r % 2 == 0 else variants[::-1]):
            us, rps = one(args, opts.threads, opts.duration)
            results[name].append((us, rps))
            print(f"round {r + 1} {name:8s} {us:6.1f} µs/request  {rps:9,.0f} req/s", flush=True)
    medians = {name: statistics.median(c[0] for c in cells) for name, cells in results.items()}
    print(f"\nka-hello, --threads {opts.threads}, medians of {opts.rounds} rounds:")
    for name, cells in results.items():
        print(f"  {name:8s} {medians[name]:6.1f} µs/request  {statistics.median(c[1] for c in cells):9,.0f} req/s")
    print(f"  handler / wsgi CPU per request: {medians['handler'] / medians['wsgi']:.2f}")


if __name__ == "__main__":
    main()
