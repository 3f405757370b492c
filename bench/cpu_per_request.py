"""Server CPU per request (µs), the steadier signal on a loaded machine: req/s swings with whatever
else runs, CPU time per request much less.

    python3 bench/cpu_per_request.py [--rounds 3] [--duration 4] [--scenario ka-hello] \
        'inline=--threads 0' 'auto=--threads 8' 'pool=--threads 8 --concurrency pool'
    python3 bench/cpu_per_request.py 'main=@/work/main --threads 0' 'here=--threads 0'

A variant's ARGS may start with `@TREE`: that variant runs the hatchway source tree TREE instead of
this one, so two versions are compared in the same interleaved run (before/after a change).
Each variant is `hatchway serve bench.apps:<app>` with the given arguments, pinned to CPU 0, with wrk
(-t1 -c50, pinned to CPU 1).  Rounds are interleaved; medians are printed.  utime + stime of the
server process come from /proc/<pid>/stat, read just before and after the measured window.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")
SCENARIOS = {  # app, extra wrk args
    "ka-hello": ("hello", []),
    "close-hello": ("hello", ["-H", "Connection: close"]),
    "ka-json": ("ka_json", []),
    "post-echo": ("echo", ["-s", "{post_lua}"]),  # a 4 KiB POST body, read whole by the app
}
POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("p", 4096)\n' \
    'wrk.headers["Content-Type"] = "application/octet-stream"\n'


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one(args: list[str], app: str, wrk_extra: list[str], duration: float):
    tree = ROOT
    if args and args[0].startswith("@"):
        tree = os.path.abspath(args[0][1:])
        args = args[1:]
    env = dict(os.environ, PYTHONPATH=tree + os.pathsep + ROOT)  # the tree's hatchway, this tree's bench.apps
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "hatchway", "serve", f"bench.apps:{app}",
         "--bind", "127.0.0.1:0", *args], cwd=tree, env=env, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            raise RuntimeError("the server did not start")
        url = f"http://127.0.0.1:{port}/"
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c50", *wrk_extra, url]
        subprocess.run(wrk + ["-d1s"], capture_output=True, timeout=30)  # warm-up
        before = cpu_seconds(proc.pid)
        out = subprocess.run(wrk + [f"-d{duration}s"], capture_output=True, text=True, timeout=60).stdout
        used = cpu_seconds(proc.pid) - before
        m_req = re.search(r"(\d+) requests in", out)
        m_rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m_req is None or m_rps is None:
            raise RuntimeError(f"unexpected wrk output: {out!r}")
        requests = int(m_req.group(1))
        rps = float(m_rps.group(1))
        return used / requests * 1e6, rps
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("variants", nargs="+", help="NAME=ARGS")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--scenario", default="ka-hello", choices=sorted(SCENARIOS))
    opts = ap.parse_args()
    app, extra = SCENARIOS[opts.scenario]
    lua = None
    if "{post_lua}" in extra:
        fd, lua = tempfile.mkstemp(suffix=".lua")
        with os.fdopen(fd, "w") as f:
            f.write(POST_LUA)
        extra = [lua if a == "{post_lua}" else a for a in extra]
    variants = [v.split("=", 1) for v in opts.variants]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in variants}
    try:
        for r in range(opts.rounds):
            for name, args in (variants if r % 2 == 0 else variants[::-1]):
                us, rps = one(shlex.split(args), app, extra, opts.duration)
                results[name].append((us, rps))
                print(f"round {r + 1} {name:12s} {us:6.1f} µs/request  {rps:9,.0f} req/s", flush=True)
    finally:
        if lua is not None:
            os.unlink(lua)
    print(f"\n{opts.scenario}, medians of {opts.rounds} rounds:")
    for name, cells in results.items():
        print(f"  {name:12s} {statistics.median(c[0] for c in cells):6.1f} µs/request  "
              f"{statistics.median(c[1] for c in cells):9,.0f} req/s")


if __name__ == "__main__":
    main()
