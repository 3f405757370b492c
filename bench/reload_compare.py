#!/usr/bin/env python3
"""Reloads and recycling under keep-alive load, hatchway against gunicorn gthread (issue 11's table).

Clients never retry: 2 requests.Session loops and 2 pipelining raw sockets (depth 8), the load
classes of tests/support/load.py.  Scenarios, each on a fresh server with 2 workers:

* hup: 10 SIGHUPs, 3 s apart (gunicorn has no readiness line to wait on, so both get fixed spacing);
* recycle: `--max-requests 300` for 20 s.

    .venv/bin/python -m pip install 'gunicorn>=23'   # the control
    python3 bench/reload_compare.py                  # both servers, both scenarios, 3 rounds

Not run in CI (about 4 minutes); the tests prove hatchway's 0 errors, this shows the control beside it.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = """
import os
def app(environ, start_response):
    body = f"{os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _loads():
    sys.path.insert(0, os.path.join(ROOT, "tests"))  # the suite's own load clients: tests/support/load.py
    from support.load import PipelineLoad, SessionLoad

    return SessionLoad, PipelineLoad


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(server: str, port: int, recycle: bool) -> list:
    if server == "hatchway":
        cmd = [sys.executable, "-m", "hatchway", "serve", "app:app", "-b", f"127.0.0.1:{port}", "--workers", "2",
               "--threads", "4", "--error-log", "error.log"]
        return cmd + (["--max-requests", "300"] if recycle else [])
    cmd = [sys.executable, "-m", "gunicorn", "app:app", "-b", f"127.0.0.1:{port}", "--workers", "2", "-k", "gthread",
           "--threads", "4", "--error-logfile", "error.log"]
    return cmd + (["--max-requests", "300"] if recycle else [])


def run(server: str, scenario: str, tmp: str) -> tuple:
    SessionLoad, PipelineLoad = _loads()
    port = free_port()
    proc = subprocess.Popen(command(server, port, scenario == "recycle"), cwd=tmp,
                            env=dict(os.environ, PYTHONPATH=ROOT), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server} did not start") from None
                time.sleep(0.05)
        time.sleep(1.0)  # every worker up (gunicorn has no readiness signal to wait on)
        sessions, pipes = SessionLoad(port, threads=2, max_seconds=120), PipelineLoad(port, threads=2,
                                                                                       max_seconds=120)
        with sessions, pipes:
            if scenario == "hup":
                for _ in range(10):
                    time.sleep(3)
                    os.kill(proc.pid, signal.SIGHUP)
                time.sleep(3)
            else:
                time.sleep(20)
        return len(sessions.errors), sessions.ok, len(pipes.errors), pipes.ok
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default="hatchway,gunicorn")
    ap.add_argument("--scenarios", default="hup,recycle")
    opts = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hatchway-reload-") as tmp:
        with open(os.path.join(tmp, "app.py"), "w") as f:
            f.write(APP)
        for r in range(opts.rounds):
            for scenario in opts.scenarios.split(","):
                for server in opts.servers.split(","):
                    result = run(server, scenario, tmp)
                    rows.append((server, scenario, r + 1, *result))
                    print(f"round {r + 1} {scenario:8s} {server:9s} session errors {result[0]} / {result[1]}, "
                          f"pipelining errors {result[2]} / {result[3]}", flush=True)
    print("\n| server | scenario | round | session errors / ok | pipelining errors / ok |")
    print("|---|---|---|---|---|")
    for server, scenario, r, se, so, pe, po in rows:
        print(f"| {server} | {scenario} | {r} | {se} / {so} | {pe} / {po} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
