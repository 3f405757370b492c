"""RSS of a worker after start-up (issue 8 target: at most 20 MiB), for `hatchway serve` of the demo app.

    python3 bench/worker_rss.py [--rounds 3] ['default=' 'inline=--threads 0' ...]

Each round starts a fresh server (no supervisor: the process is the worker), sends one request,
waits `--settle` seconds and reads VmRSS from /proc.  Medians are printed with the target.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_KIB = 20 * 1024


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def one(args: list[str], settle: float) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "hatchway", "serve", "--bind", "127.0.0.1:0", *args],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", proc.stderr.readline())
            port = int(m.group(1)) if m else None
        if port is None:
            raise RuntimeError("the server did not start")
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        time.sleep(settle)  # let every thread start and the first request's garbage settle
        return rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="*", default=["default=", "inline=--threads 0"], help="NAME=ARGS")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--settle", type=float, default=1.0, help="seconds between the first answer and the reading")
    opts = ap.parse_args()
    variants = [v.split("=", 1) for v in opts.variants]
    results: dict[str, list[int]] = {name: [] for name, _ in variants}
    for _ in range(opts.rounds):
        for name, args in variants:
            results[name].append(one(shlex.split(args), opts.settle))
    for name, cells in results.items():
        median = statistics.median(cells)
        verdict = "ok" if median <= TARGET_KIB else "over"
        print(f"{name:10s} {median / 1024:5.1f} MiB RSS after start-up (target 20.0: {verdict}); rounds {cells}")


if __name__ == "__main__":
    main()
