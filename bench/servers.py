#!/usr/bin/env python3
"""Throughput benchmark: hatchway against peer WSGI servers, all in one run.

Each cell (server variant x scenario x round) is a fresh server process pinned to one CPU (default CPU 0) and
one wrk pinned to another (default CPU 1). A cell: start the server in its own process group, poll its port with
a deadline, check one response (status and body), warm up, measure, stop the whole process group. Rounds are
interleaved (every cell of round 1, then round 2, ...) so slow drift of the machine hits every server alike, and
the table shows the median over rounds. wrk's non-2xx responses and socket errors are counted and shown.

    python3 bench/servers.py                        # every default server and scenario, 3 rounds x 8 s
    python3 bench/servers.py --quick                # smoke test: 1 round, 1 s each
    python3 bench/servers.py --servers granian,waitress --scenarios ka-hello,big --rounds 5
    python3 bench/servers.py --variant 'hatchway-w2=hatchway-t0:--workers 2' --servers hatchway-w2 --server-cpus 0,1

Results (every raw cell plus the medians) go to bench/results/<timestamp>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "bench", "results")
HOST = "127.0.0.1"
PY = sys.executable

START_DEADLINE = 20.0  # seconds for a server to accept connections
STOP_DEADLINE = 10.0  # seconds for a process group to exit after SIGTERM, before SIGKILL
POLL_INTERVAL = 0.02  # seconds between checks while waiting on a deadline
NOISY_PCT = 25  # other work above this (% of one CPU) during a cell gets the cell named in the report
BUSY_WINDOW = 0.5  # seconds of /proc/stat sampling before each cell, to see other work on the machine

POST_BODY = b"p" * 4096
POST_LUA = """\
wrk.method = "POST"
wrk.body = string.rep("p", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
"""


# --------------------------------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    app: str  # a callable in bench/apps.py
    expect_len: int  # response body length the check expects
    connections: int = 50
    close: bool = False  # send Connection: close, one TCP connection per request
    post: bool = False  # POST a 4 KiB body (wrk via a lua script)


SCENARIOS = [
    Scenario("ka-hello", "hello", 13),
    Scenario("close-hello", "hello", 13, close=True),
    Scenario("ka-json", "ka_json", 28),
    Scenario("post-echo", "echo", len(POST_BODY), post=True),
    Scenario("stream", "stream", 16 * 1024),
    Scenario("big", "big", 1024 * 1024, connections=8),
]
EXTRA_SCENARIOS: list[Scenario] = []  # defined but only run when asked for with --scenarios


# ---------------------------------------------------------------------------------------------- server variants

# A variant is data: an argv template ({py}, {host}, {port}, {app} are filled in per cell), extra args appended
# to it, and the CPUs it is pinned to. New variants (e.g. more workers for scaling runs) are one more entry here
# or one --variant option on the command line.

WERKZEUG_LAUNCHER = """\
import importlib, logging, sys
from werkzeug.serving import run_simple
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request log line, like the other servers
module, _, name = sys.argv[1].partition(":")
run_simple(sys.argv[2], int(sys.argv[3]), getattr(importlib.import_module(module), name), threaded=True)
"""


@dataclass(frozen=True)
class Variant:
    name: str
    argv: tuple[str, ...]
    extra: tuple[str, ...] = ()
    cpus: str | None = None  # None: the --server-cpus option
    default: bool = True  # part of the run when --servers is not given
    note: str = ""
    # Serve the hatchway *installed* in this interpreter's environment (e.g. the compiled build in .venv-mypyc)
    # instead of the working tree: the server then runs from a directory that holds only bench/.
    installed: bool = False

    def command(self, app: str, port: int, py: str = PY) -> list[str]:
        fill = {"py": py, "host": HOST, "port": str(port), "app": f"bench.apps:{app}"}
        return [part.format(**fill) for part in self.argv + self.extra]

    @property
    def is_hatchway(self) -> bool:
        return self.name.startswith("hatchway")


HATCHWAY = ("{py}", "-m", "hatchway", "serve", "{app}", "--bind", "{host}:{port}")
GUNICORN = ("{py}", "-m", "gunicorn", "-k", "gthread", "--keep-alive", "75", "-b", "{host}:{port}")
GRANIAN = ("{py}", "-m", "granian", "--interface", "wsgi", "--blocking-threads", "1",
           "--host", "{host}", "--port", "{port}", "--no-access-log", "--log-level", "warning")
COMPILED_PY = os.path.join(ROOT, ".venv-mypyc", "bin", "python")  # `make compiled` builds it

# The hatchway rows: edit this list to follow the CLI. "default" passes no concurrency flag at all, so it is
# whatever mode `hatchway serve` picks by itself (since the engine rework: the stall hand-off with 8 threads);
# t0 and t8 pin the thread count (t8 is then the same hand-off, said explicitly), pool8 the old 8-thread pool.
# (name, extra args, note, in the default run)
HATCHWAY_MODES = [
    ("hatchway-default", (), "the CLI's default concurrency mode (no flag)", True),
    ("hatchway-t0", ("--threads", "0"), "app inline on the event loop", True),
    ("hatchway-t8", ("--threads", "8"), "8 threads (the default concurrency for a thread count)", True),
    ("hatchway-pool8", ("--threads", "8", "--concurrency", "pool"), "every request on a pool of 8 threads", False),
]

VARIANTS = [Variant(name, HATCHWAY + args, note=note, default=on) for name, args, note, on in HATCHWAY_MODES] + [
    Variant("granian", GRANIAN + ("--workers", "1", "{app}"), note="Rust, 1 worker, 1 blocking thread"),
    Variant("gunicorn-gthread", GUNICORN + ("-w", "1", "--threads", "8", "{app}"), note="1 worker, 8 threads"),
    # Not in the default run (it would take twice as long); name them with --servers.
    Variant("waitress", ("{py}", "-m", "waitress", "--threads=8", "--listen={host}:{port}", "{app}"),
            default=False, note="8 threads"),
    Variant("cheroot", ("{py}", "-m", "cheroot", "--bind", "{host}:{port}", "--threads", "8",
                        "--max-threads", "8", "{app}"), default=False, note="8 threads"),
    Variant("werkzeug", ("{py}", "-c", WERKZEUG_LAUNCHER, "{app}", "{host}", "{port}"), default=False,
            note="run_simple threaded, HTTP/1.0 (no keep-alive), request log off"),
    # The compiled build (mypyc), from .venv-mypyc: `make compiled` first, then --servers hatchway-mypyc-...
    *[Variant(name.replace("hatchway-", "hatchway-mypyc-"), (COMPILED_PY,) + HATCHWAY[1:] + args, default=False,
              installed=True, note=f"compiled build: {note}") for name, args, note, _ in HATCHWAY_MODES],
    # Scaling variants for issue 3: not in the default run. Give them CPUs with --server-cpus.
    Variant("hatchway-t0-w2", HATCHWAY + ("--threads", "0", "--workers", "2"), default=False),
    Variant("gunicorn-gthread-w2", GUNICORN + ("-w", "2", "--threads", "8", "{app}"), default=False),
    Variant("granian-w2", GRANIAN + ("--workers", "2", "{app}"), default=False),
]


def parse_variant(spec: str, known: dict[str, Variant]) -> Variant:
    """'NEW=BASE:EXTRA ARGS' defines NEW as BASE with EXTRA ARGS appended, e.g. 'hw-w2=hatchway-t0:--workers 2'."""
    new, sep, rest = spec.partition("=")
    base, _, extra = rest.partition(":")
    if not sep or not new or base not in known:
        raise SystemExit(f"--variant {spec!r}: expected NEW=BASE:ARGS with BASE one of {', '.join(known)}")
    # Extra args go before the app argument when the template ends with it, so positional-app CLIs still parse.
    template = known[base]
    args = tuple(shlex.split(extra))
    if template.argv and template.argv[-1] == "{app}":
        return replace(template, name=new, argv=template.argv[:-1] + template.extra + args + ("{app}",), extra=(),
                       default=False)
    return replace(template, name=new, extra=template.extra + args, default=False)


# ------------------------------------------------------------------------------------------ process management


@dataclass
class Server:
    variant: Variant
    proc: subprocess.Popen
    log_path: str

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the leader's pid is the group id


_live: list[Server] = []  # every server started and not yet stopped, for the emergency stop on exit


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in a process group, from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields after "pid (comm) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            pids.append(int(entry))
    return pids


def group_peak_rss_kib(pgid: int) -> int:
    """Sum of the peak RSS (VmHWM) of the processes in the group."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM this server if the runner dies without cleaning up (PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def apps_only_dir(log_dir: str) -> str:
    """A directory holding only a link to bench/: cwd and PYTHONPATH for a server that must import the installed
    hatchway (the working tree's hatchway/ would shadow it from ROOT)."""
    path = os.path.join(log_dir, "apps-only")
    if not os.path.isdir(path):
        os.makedirs(path)
        os.symlink(os.path.join(ROOT, "bench"), os.path.join(path, "bench"))
    return path


def start_server(variant: Variant, app: str, port: int, cpus: str, log_dir: str) -> Server:
    home = apps_only_dir(log_dir) if variant.installed else ROOT
    env = dict(os.environ, PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(p for p in (home, os.environ.get("PYTHONPATH")) if p))
    log_path = os.path.join(log_dir, f"{variant.name}-{app}-{port}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["taskset", "-c", cpus] + variant.command(app, port), cwd=home, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
    server = Server(variant, proc, log_path)
    _live.append(server)
    return server


def stop_server(server: Server) -> None:
    """SIGTERM the whole process group, wait for it to be empty, SIGKILL what is left. Only our own group."""
    pgid = server.pgid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE
    while time.monotonic() < deadline:
        server.proc.poll()
        if server.proc.returncode is not None and not group_pids(pgid):
            break
        time.sleep(POLL_INTERVAL)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(timeout=STOP_DEADLINE)
    if server in _live:
        _live.remove(server)


def stop_all() -> None:
    for server in list(_live):
        stop_server(server)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, steal) clock ticks summed over all CPUs since boot, from the 'cpu' line of /proc/stat."""
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:]))
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return user + nice + system + irq + softirq, steal


def group_cpu_ticks(pgid: int) -> int:
    """utime + stime (all threads) of the live processes in a process group."""
    total = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


class OtherLoad:
    """CPU time used by everything except our server and wrk during a measurement, plus hypervisor steal.

    Both in % of one CPU over the wall time. Other sessions on a shared box show up here, per cell.
    """

    def __init__(self, pgid: int):
        self.pgid = pgid

    def snapshot(self):
        child = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once reaped
        return (time.monotonic(), *machine_jiffies(), group_cpu_ticks(self.pgid),
                (child.ru_utime + child.ru_stime) * CLK_TCK)

    def __enter__(self):
        self.start = self.snapshot()
        return self

    def __exit__(self, *exc):
        t0, busy0, steal0, srv0, wrk0 = self.start
        t1, busy1, steal1, srv1, wrk1 = self.snapshot()
        ticks = (t1 - t0) * CLK_TCK
        self.other_pct = round(100 * max(0, (busy1 - busy0) - (srv1 - srv0) - (wrk1 - wrk0)) / ticks, 1)
        self.steal_pct = round(100 * (steal1 - steal0) / ticks, 1)
        self.server_cpu_s = (srv1 - srv0) / CLK_TCK  # utime + stime of the server's process group
        return False


def cpu_busy_pct(window: float = BUSY_WINDOW) -> dict[str, float]:
    """Per-CPU busy % over a short window, from /proc/stat; taken between cells, so it is other work."""
    def sample():
        with open("/proc/stat") as f:
            rows = [line.split() for line in f if re.match(r"cpu\d", line)]
        return {r[0]: (sum(map(int, r[1:])), int(r[4]) + int(r[5])) for r in rows}  # (total, idle + iowait)

    before = sample()
    time.sleep(window)
    after = sample()
    busy = {}
    for cpu, (total, idle) in after.items():
        dt, di = total - before[cpu][0], idle - before[cpu][1]
        busy[cpu] = round(100.0 * (dt - di) / dt, 1) if dt else 0.0
    return busy


def wait_for_quiet(threshold: float | None, deadline_s: float) -> dict:
    """With a threshold, wait (up to deadline_s) until every CPU is below threshold % busy; report what was seen."""
    t0 = time.monotonic()
    busy = cpu_busy_pct()
    while threshold is not None and max(busy.values()) >= threshold and time.monotonic() - t0 < deadline_s:
        busy = cpu_busy_pct()
    return {"cpu_busy_before_pct": busy, "quiet_wait_s": round(time.monotonic() - t0 - BUSY_WINDOW, 1)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for_port(server: Server, port: int, deadline_s: float = START_DEADLINE) -> None:
    """Poll until the port accepts a connection; fail early if the server exits."""
    deadline = time.monotonic() + deadline_s
    while True:
        if server.proc.poll() is not None:
            raise CellError(f"server exited with status {server.proc.returncode} before accepting")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise CellError(f"port {port} did not accept within {deadline_s:.0f} s") from None
            time.sleep(POLL_INTERVAL)


def log_tail(server: Server, lines: int = 15) -> str:
    try:
        with open(server.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------ measuring


class CellError(Exception):
    """A cell that could not be measured: the server did not start or answered wrongly."""


def check_response(scenario: Scenario, port: int) -> None:
    """One request the way wrk will send it: status 200 and the expected body."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Connection": "close"} if scenario.close else {}
        if scenario.post:
            headers["Content-Type"] = "application/octet-stream"
            conn.request("POST", "/", body=POST_BODY, headers=headers)
        else:
            conn.request("GET", "/", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        raise CellError(f"check request failed: {exc!r}") from exc
    finally:
        conn.close()
    if resp.status != 200:
        raise CellError(f"check: status {resp.status}, expected 200")
    if len(body) != scenario.expect_len:
        raise CellError(f"check: body of {len(body)} bytes, expected {scenario.expect_len}")
    if scenario.post and body != POST_BODY:
        raise CellError("check: echoed body differs from the body sent")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def parse_wrk(out: str) -> dict:
    def grab(pattern, cast=float, default=0):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else default

    result = {
        "rps": grab(r"Requests/sec:\s+([\d.]+)", default=None),
        "requests": grab(r"(\d+) requests in", int),
        "non2xx": grab(r"Non-2xx or 3xx responses:\s+(\d+)", int),
        "latency_ms": {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)},
    }
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = ("connect", "read", "write", "timeout")
    result["socket_errors"] = dict(zip(kinds, map(int, m.groups()), strict=True)) if m else {}
    result["errors"] = result["non2xx"] + sum(result["socket_errors"].values())
    if result["rps"] is None:
        raise CellError(f"could not parse wrk output: {out.strip()[-300:]!r}")
    return result


def run_wrk(scenario: Scenario, port: int, seconds: float, cpus: str, lua_path: str) -> dict:
    argv = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{scenario.connections}", f"-d{max(1, round(seconds))}s",
            "--latency"]
    if scenario.close:
        argv += ["-H", "Connection: close"]
    if scenario.post:
        argv += ["-s", lua_path]
    argv.append(f"http://{HOST}:{port}/")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired as exc:
        raise CellError("wrk did not finish in time") from exc
    if proc.returncode != 0:
        raise CellError(f"wrk exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return parse_wrk(proc.stdout)


def run_cell(variant: Variant, scenario: Scenario, opts, lua_path: str, log_dir: str) -> dict:
    # On a shared machine other work skews figures: record how busy the CPUs were just before the cell.
    cell = {"server": variant.name, "scenario": scenario.name, "loadavg_before": round(os.getloadavg()[0], 2),
            "started": datetime.datetime.now().isoformat(timespec="seconds")}
    cell.update(wait_for_quiet(opts.quiet, opts.quiet_wait))
    port = free_port()
    server = start_server(variant, scenario.app, port, variant.cpus or opts.server_cpus, log_dir)
    try:
        t0 = time.monotonic()
        wait_for_port(server, port)
        cell["startup_s"] = round(time.monotonic() - t0, 3)
        check_response(scenario, port)
        if opts.warmup > 0:
            run_wrk(scenario, port, opts.warmup, opts.wrk_cpus, lua_path)
        with OtherLoad(server.pgid) as other:
            cell.update(run_wrk(scenario, port, opts.duration, opts.wrk_cpus, lua_path))
        cell["other_cpu_pct"], cell["steal_pct"] = other.other_pct, other.steal_pct
        # Server CPU per request predicts throughput per core on a bigger machine better than req/s on this one.
        cell["server_cpu_s"] = other.server_cpu_s
        cell["cpu_us_per_req"] = round(1e6 * other.server_cpu_s / cell["requests"], 2) if cell["requests"] else None
        cell["peak_rss_mib"] = round(group_peak_rss_kib(server.pgid) / 1024, 1)
        if server.proc.poll() is not None:
            raise CellError(f"server exited with status {server.proc.returncode} during the run")
    except CellError as exc:
        cell["failed"] = str(exc)
        cell["log_tail"] = log_tail(server)
    finally:
        stop_server(server)
    return cell


# ------------------------------------------------------------------------------------------------ reporting


def summarize(cells: list[dict], variants: list[Variant], scenarios: list[Scenario]) -> dict:
    summary = {}
    for v in variants:
        for s in scenarios:
            mine = [c for c in cells if c["server"] == v.name and c["scenario"] == s.name]
            ok = [c for c in mine if "failed" not in c]
            summary[f"{v.name}/{s.name}"] = {
                "rounds": len(mine),
                "failed": [c["failed"] for c in mine if "failed" in c],
                "median_rps": statistics.median(c["rps"] for c in ok) if ok else None,
                "rps": [round(c["rps"], 1) for c in ok],
                "errors": sum(c["errors"] for c in ok),
                "error_kinds": {kind: n for kind in ("non2xx", "connect", "read", "write", "timeout")
                                if (n := sum(c["non2xx"] if kind == "non2xx" else c["socket_errors"].get(kind, 0)
                                             for c in ok))},
                "median_p99_ms": statistics.median(c["latency_ms"].get("99", float("nan")) for c in ok) if ok
                else None,
                "max_peak_rss_mib": max(c["peak_rss_mib"] for c in ok) if ok else None,
                "median_cpu_us_per_req": statistics.median(cpu) if (
                    cpu := [c["cpu_us_per_req"] for c in ok if c.get("cpu_us_per_req")]) else None,
            }
    return summary


def fmt_cell(entry: dict, rounds: int) -> str:
    if entry["median_rps"] is None:
        return "FAILED" if entry["failed"] else "-"
    text = f"{entry['median_rps']:,.0f}"
    if len(entry["rps"]) != rounds:
        text += f" (n={len(entry['rps'])})"
    if entry["errors"]:
        text += f" (err {entry['errors']:,})"
    if entry["failed"]:
        text += f" ({len(entry['failed'])} failed)"
    return text


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(summary: dict, cells: list[dict], variants: list[Variant], scenarios: list[Scenario], meta: dict) -> str:
    names = [s.name for s in scenarios]
    key = lambda v, s: summary[f"{v.name}/{s.name}"]  # noqa: E731
    rounds = max((len(e["rps"]) for e in summary.values()), default=0)
    out = [f"Req/s, median of {rounds} round(s) x {meta['duration']:g} s "
           f"(server on CPU {meta['server_cpus']}, wrk -t1 on CPU {meta['wrk_cpus']}; "
           "'err' = wrk non-2xx/3xx + socket errors summed over rounds):", ""]
    out.append(markdown_table(["server"] + names, [[v.name] + [fmt_cell(key(v, s), rounds) for s in scenarios]
                                                   for v in variants]))

    out += ["", "p99 latency, ms (median over rounds):", ""]
    out.append(markdown_table(["server"] + names, [
        [v.name] + [f"{key(v, s)['median_p99_ms']:.2f}" if key(v, s)["median_p99_ms"] is not None else "-"
                    for s in scenarios] for v in variants]))

    out += ["", "Server CPU per request, µs (utime + stime of the server's process group over the wrk window / "
            "requests; median over rounds):", ""]
    out.append(markdown_table(["server"] + names, [
        [v.name] + [f"{key(v, s)['median_cpu_us_per_req']:.1f}" if key(v, s).get("median_cpu_us_per_req")
                    else "-" for s in scenarios] for v in variants]))

    ours = [v for v in variants if v.is_hatchway]
    peers = sorted((v for v in variants if not v.is_hatchway), key=lambda v: v.name != "granian")  # granian first
    if ours and peers:
        def ratios(field, peer_list):
            rows = []
            for p in peer_list:
                for h in ours:
                    row = [f"{h.name} / {p.name}"]
                    for s in scenarios:
                        a, b = key(h, s).get(field), key(p, s).get(field)
                        row.append(f"{a / b:.2f}x" if a and b else "-")
                    rows.append(row)
            return rows

        out += ["", "Ratio of hatchway to each peer (median req/s; > 1 means hatchway is faster):", ""]
        out.append(markdown_table(["ratio"] + names, ratios("median_rps", peers)))
        granian = [p for p in peers if p.name == "granian"]
        if granian:
            out += ["", "Against granian, server CPU per request and p99 latency (< 1 means hatchway uses less):", ""]
            out.append(markdown_table(["CPU µs/req ratio"] + names, ratios("median_cpu_us_per_req", granian)))
            out.append("")
            out.append(markdown_table(["p99 ratio"] + names, ratios("median_p99_ms", granian)))

    problems = []
    sampled = [c["cpu_busy_before_pct"] for c in cells if "cpu_busy_before_pct" in c]
    if sampled:
        busy = {cpu: statistics.median(b[cpu] for b in sampled) for cpu in sampled[0]}
        out += ["", "Other work on the machine just before each cell (median CPU busy %): "
                + ", ".join(f"{cpu} {pct:.0f}%" for cpu, pct in busy.items())]
    loaded = [c for c in cells if "other_cpu_pct" in c]
    if loaded:
        other = [c["other_cpu_pct"] for c in loaded]
        out += ["Other work during the measurements (% of one CPU, not our server or wrk): "
                f"median {statistics.median(other):.0f}%, max {max(other):.0f}%; hypervisor steal: median "
                f"{statistics.median(c['steal_pct'] for c in loaded):.0f}%"]
        noisy = [c for c in loaded if c["other_cpu_pct"] >= NOISY_PCT]
        if noisy:
            out.append(f"Cells measured while other work used >= {NOISY_PCT}% of a CPU: " + ", ".join(
                f"{c['server']}/{c['scenario']} r{c['round']} ({c['other_cpu_pct']:.0f}%)" for c in noisy))
    for v in variants:
        for s in scenarios:
            e = key(v, s)
            for reason in e["failed"]:
                problems.append(f"- {v.name} / {s.name}: FAILED: {reason}")
            if e["errors"]:
                kinds = ", ".join(f"{kind} {n:,}" for kind, n in e["error_kinds"].items())
                problems.append(f"- {v.name} / {s.name}: {e['errors']:,} wrk errors over {len(e['rps'])} round(s)"
                                f" ({kinds})")
    if problems:
        out += ["", "Errors:"] + problems
    return "\n".join(out)


def versions() -> dict:
    found = {}
    for dist in ("gunicorn", "waitress", "granian", "cheroot", "werkzeug", "httptools"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["hatchway_git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                               capture_output=True, text=True, check=True).stdout.strip()
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    return found


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------- main


def pick(names: str | None, table: list, extra: list, what: str, default_filter=lambda item: True) -> list:
    by_name = {item.name: item for item in table + extra}
    if not names:
        return [item for item in table if default_filter(item)]
    chosen = []
    for name in names.split(","):
        name = name.strip()
        if name not in by_name:
            raise SystemExit(f"unknown {what} {name!r}; known: {', '.join(by_name)}")
        chosen.append(by_name[name])
    return chosen


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per cell (default 8)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load first (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is shown (default 3)")
    default_servers = ",".join(v.name for v in VARIANTS if v.default)
    ap.add_argument("--servers", help=f"comma list of variants (default: {default_servers})")
    default_scenarios = ",".join(s.name for s in SCENARIOS)
    extra_scenarios = ",".join(s.name for s in EXTRA_SCENARIOS)
    ap.add_argument("--scenarios", help=f"comma list (default: {default_scenarios}; also: {extra_scenarios})")
    ap.add_argument("--variant", action="append", default=[], metavar="NEW=BASE:ARGS",
                    help="define a variant from another with extra args, e.g. 'hw-w2=hatchway-t0:--workers 2'")
    ap.add_argument("--server-cpus", default="0", help="taskset CPU list for servers (default 0)")
    ap.add_argument("--wrk-cpus", default="1", help="taskset CPU list for wrk (default 1)")
    ap.add_argument("--quiet", type=float, metavar="PCT",
                    help="before each cell, wait until every CPU is below PCT %% busy (other work on a shared box)")
    ap.add_argument("--quiet-wait", type=float, default=30.0, metavar="SECS",
                    help="longest wait for --quiet per cell; the cell then runs anyway (default 30)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 1 s warm-up-free cells")
    ap.add_argument("--out", help="JSON results path (default bench/results/<timestamp>.json)")
    ap.add_argument("--report", nargs="+", metavar="JSON", help="re-print the tables from saved results, then exit")
    ap.add_argument("--max-other", type=float, metavar="PCT",
                    help="with --report: leave out cells during which other work used >= PCT %% of a CPU")
    ap.add_argument("--list", action="store_true", help="list variants and scenarios, then exit")
    opts = ap.parse_args(argv)
    if opts.quick:
        opts.duration, opts.warmup, opts.rounds = 1.0, 0.0, 1
    return opts


def report_files(paths: list[str], max_other: float | None = None) -> int:
    """Re-print the tables from saved JSON results; several files pool their rounds (same settings assumed).

    With max_other, cells during which other work used that much CPU or more (% of one CPU) are left out, and
    the report says how many; a cell with no such measurement is kept.
    """
    cells, metas = [], []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        cells += data["cells"]
        metas.append(data["meta"])
    if max_other is not None:
        kept = [c for c in cells if c.get("other_cpu_pct", 0) < max_other]
        print(f"left out {len(cells) - len(kept)} of {len(cells)} cells measured while other work used "
              f">= {max_other:g}% of a CPU")
        cells = kept
    by_name = {s.name: s for s in SCENARIOS + EXTRA_SCENARIOS}
    variant_names = list(dict.fromkeys(c["server"] for c in cells))
    variant_names.sort(key=lambda n: list(metas[0]["variants"]).index(n) if n in metas[0]["variants"] else 99)
    variants = [Variant(name, ()) for name in variant_names]
    order = list(by_name)
    scenarios = [by_name[n] for n in sorted({c["scenario"] for c in cells}, key=order.index)]
    if len({(m["duration"], m["server_cpus"], m["wrk_cpus"]) for m in metas}) > 1:
        print("warning: these files used different durations or CPU pinning")
    print(f"{len(cells)} cells from {len(paths)} file(s)\n")
    print(report(summarize(cells, variants, scenarios), cells, variants, scenarios, metas[0]))
    return 0


def main(argv=None) -> int:
    opts = parse_args(argv)
    if opts.report:
        return report_files(opts.report, opts.max_other)
    known = {v.name: v for v in VARIANTS}
    for spec in opts.variant:
        v = parse_variant(spec, known)
        known[v.name] = v
    added = [v for v in known.values() if v not in VARIANTS]

    if opts.list:
        for v in known.values():
            argv = ["<script>" if "\n" in a else a for a in v.command("APP", 0)]
            print(f"{v.name:22} {'default' if v.default else '       '}  {shlex.join(argv)}")
        for s in SCENARIOS + EXTRA_SCENARIOS:
            print(f"{s.name:22} app={s.app} -c{s.connections}{' close' if s.close else ''}{' post' if s.post else ''}")
        return 0

    variants = pick(opts.servers, VARIANTS, added, "server", lambda v: v.default)
    scenarios = pick(opts.scenarios, SCENARIOS, EXTRA_SCENARIOS, "scenario")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_path = opts.out or os.path.join(RESULTS_DIR, f"bench-{stamp}.json")

    total = opts.rounds * len(variants) * len(scenarios)
    eta = total * (opts.duration + opts.warmup + 1.5)
    print(f"{total} cells, about {eta / 60:.0f} min; results -> {os.path.relpath(out_path, ROOT)}", flush=True)

    meta = {"started": stamp, "argv": sys.argv, "duration": opts.duration, "warmup": opts.warmup,
            "rounds": opts.rounds, "server_cpus": opts.server_cpus, "wrk_cpus": opts.wrk_cpus,
            "machine": {"nproc": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "versions": versions(),
            "variants": {v.name: {"argv": v.command("APP", 0), "note": v.note} for v in variants},
            "scenarios": [s.__dict__ for s in scenarios]}
    cells: list[dict] = []

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-") as tmp:
        lua_path = os.path.join(tmp, "post-4k.lua")
        with open(lua_path, "w") as f:
            f.write(POST_LUA)
        try:
            done = 0
            for rnd in range(opts.rounds):
                order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]  # rotate the start
                for scenario in scenarios:
                    for variant in order:
                        cell = run_cell(variant, scenario, opts, lua_path, tmp)
                        cell["round"] = rnd + 1
                        cells.append(cell)
                        done += 1
                        print(progress_line(done, total, cell), flush=True)
                        write_json(out_path, {"meta": meta, "cells": cells})
        except KeyboardInterrupt:
            meta["interrupted"] = True
            print("\ninterrupted: reporting the cells measured so far", flush=True)
        finally:
            stop_all()

    summary = summarize(cells, variants, scenarios)
    write_json(out_path, {"meta": meta, "cells": cells, "summary": summary})
    print()
    print(report(summary, cells, variants, scenarios, meta))
    print(f"\nJSON: {os.path.relpath(out_path, ROOT)}")
    if meta.get("interrupted"):
        return 130
    return 1 if any(c.get("failed") for c in cells) else 0


def progress_line(done: int, total: int, cell: dict) -> str:
    head = f"[{done}/{total}] r{cell['round']} {cell['scenario']:12} {cell['server']:20}"
    if "failed" in cell:
        tail = cell.get("log_tail", "").strip().splitlines()[-3:]
        return f"{head} FAILED: {cell['failed']}" + "".join(f"\n      | {line}" for line in tail)
    errors = f"  errors {cell['errors']}" if cell["errors"] else ""
    return f"{head} {cell['rps']:>10,.0f} req/s  p99 {cell['latency_ms'].get('99', float('nan')):.2f} ms{errors}"


if __name__ == "__main__":
    sys.exit(main())
