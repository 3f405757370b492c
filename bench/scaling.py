"""Multi-core scaling: keep-alive hello with 1 and 2 worker processes, hatchway against gunicorn
gthread, in one run, with wrk on 127.0.0.1.

    python3 bench/scaling.py [--duration 5] [--rounds 3] [--connections 50]

Every cell is a fresh server: a 1 s warm-up, then `wrk -t2 -cC -dDs`.  The rounds are interleaved
and the median is shown, because absolute numbers swing on a shared 2-core machine.  wrk runs on the
same two cores as the servers, so "2 workers" competes with the load generator: read the ratio, not
only the absolute figure.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, World!"]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def commands(port: int):
    bind = f"127.0.0.1:{port}"
    py = sys.executable
    return {
        "hatchway --workers 1": [py, "-m", "hatchway", "serve", "hello:app", "-b", bind, "--workers", "1"],
        "hatchway --workers 2": [py, "-m", "hatchway", "serve", "hello:app", "-b", bind, "--workers", "2"],
        "hatchway --workers 2 --reuse-port": [py, "-m", "hatchway", "serve", "hello:app", "-b", bind, "--workers",
                                              "2", "--reuse-port"],
        "gunicorn gthread -w 1 --threads 8": [py, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "8",
                                              "--keep-alive", "5", "-b", bind, "hello:app"],
        "gunicorn gthread -w 2 --threads 8": [py, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8",
                                              "--keep-alive", "5", "-b", bind, "hello:app"],
    }


def wait_listening(port: int, proc, timeout=30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start listening")


def wait_workers(proc, cmd, timeout=30.0) -> None:
    """Until the server has forked as many workers as its command line asks for (a deadline, not a nap)."""
    wanted = 0
    for flag in ("--workers", "-w"):
        if flag in cmd:
            wanted = int(cmd[cmd.index(flag) + 1])
    children = f"/proc/{proc.pid}/task/{proc.pid}/children"
    end = time.monotonic() + timeout
    while wanted > 1 and time.monotonic() < end:
        try:
            if len(open(children).read().split()) >= wanted:
                return
        except OSError:
            return  # no /proc children file: nothing to wait on
        time.sleep(0.05)


def wrk(port: int, duration: float, connections: int) -> float:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    wrk reported: {errors.group(0)}", file=sys.stderr)
    return float(m.group(1)) if m else 0.0


def run_cell(name, cmd, workdir, port, duration, connections) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_listening(port, proc)
        wait_workers(proc, cmd)
        wrk(port, 1, connections)  # warm-up: also covers workers still importing the app
        return wrk(port, duration, connections)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=50)
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="hatchway-bench-"))
    (workdir / "hello.py").write_text(APP)
    results: dict[str, list[float]] = {}
    for r in range(args.rounds):
        port = free_port()
        for name, cmd in commands(port).items():
            port = free_port()
            cmd = commands(port)[name]
            rps = run_cell(name, cmd, workdir, port, args.duration, args.connections)
            results.setdefault(name, []).append(rps)
            print(f"round {r + 1}: {name}: {rps:,.0f} req/s", file=sys.stderr)
    med = {name: statistics.median(v) for name, v in results.items()}
    lines = [f"keep-alive hello, wrk -t2 -c{args.connections} -d{args.duration:g}s, median of {args.rounds} "
             f"interleaved rounds, {os.cpu_count()} CPUs shared with wrk", "",
             "| server | req/s (median) | rounds | 2 workers / 1 worker |", "|---|---|---|---|"]
    for name, value in med.items():
        base = None
        if "-w 2" in name or "--workers 2" in name:
            base = name.replace(" --reuse-port", "").replace("-w 2", "-w 1").replace("--workers 2", "--workers 1")
        ratio = f"{value / med[base]:.2f}x" if base in med and med[base] else ""
        rounds = ", ".join(f"{v:,.0f}" for v in results[name])
        lines.append(f"| {name} | {value:,.0f} | {rounds} | {ratio} |")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scaling-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")
    subprocess.run(["rm", "-rf", str(workdir)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
