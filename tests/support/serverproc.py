"""Real `python -m hatchway serve` processes on 127.0.0.1, as pytest fixtures for the whole suite
(tests/conftest.py loads this module as a plugin): workdir, write_app, start_server, pid_app, cli, kit.

Every server runs in its own session (process group), so cleanup kills exactly what the test
started.  Waiting is always on a condition with a deadline, never a fixed sleep.
"""
from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from support.load import LoadClient
from support.procs import ROOT, Proc, free_port
from support.rawhttp import Conn
from support.wait import DEADLINE, wait_for


def server_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HATCHWAY_", "LISTEN_", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # an app rewritten within a second must not run from a stale .pyc
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Server:
    """`python -m hatchway serve` in a fresh session, its error log in a file we can poll."""

    def __init__(self, workdir: Path, args, app_spec="app:app", env=None, bind=True, pass_fds=(), preexec=None,
                 argv_prefix=()):
        self.dir = workdir
        self.log_path = workdir / f"error-{time.monotonic_ns()}.log"
        self.stderr_path = workdir / f"stderr-{time.monotonic_ns()}.txt"
        cmd = [*argv_prefix, sys.executable, "-m", "hatchway", "serve"]
        if app_spec:
            cmd.append(app_spec)
        cmd += ["--error-log", str(self.log_path)]
        if bind:
            cmd += ["-b", "127.0.0.1:0"]
        cmd += list(args)
        self.cmd = cmd
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=workdir, env=server_env(env), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True,
                                     pass_fds=pass_fds, preexec_fn=preexec)
        self.pid = self.proc.pid

    # -- observing --------------------------------------------------------------------------------
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_log(self, pattern, timeout=DEADLINE, start=0):
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log(), start)
            if m is None and self.proc.poll() is not None:
                m = rx.search(self.log(), start)
                if m is None:
                    raise AssertionError(f"server exited ({self.proc.returncode}) before logging {pattern!r}:\n"
                                         f"{self.log()[-3000:]}\n{self.stderr()[-2000:]}")
            return m

        return wait_for(found, timeout, what=f"log {pattern!r}\n--- log so far:\n{self.log()[-3000:]}")

    def count(self, pattern) -> int:
        return len(re.findall(pattern, self.log()))

    @property
    def port(self) -> int:
        return int(self.wait_log(r"listening on https?://127\.0\.0\.1:(\d+)").group(1))

    def ready(self, workers=None, timeout=DEADLINE):
        if workers is None:
            self.wait_log(r"listening on", timeout)
        else:
            self.wait_log(r"ready: \d+ worker\(s\) serving", timeout)
        return self

    def children(self) -> set[int]:
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except FileNotFoundError:
            return set()
        return {int(p) for p in text.split()}

    def ready_workers(self) -> list[int]:
        return [int(p) for p in re.findall(r"worker (\d+) ready", self.log())]

    # -- acting -----------------------------------------------------------------------------------------
    def signal(self, sig) -> None:
        os.kill(self.pid, sig)

    def wait_exit(self, timeout=DEADLINE) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"server did not exit within {timeout}s:\n{self.log()[-3000:]}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        else:
            try:  # workers may outlive a supervisor that was killed: the group is still ours
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._stderr.close()


@pytest.fixture
def workdir():
    """A world-readable directory (apps must be importable after --user drops privileges)."""
    path = Path(tempfile.mkdtemp(prefix="hatchway-ops-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def write_app(workdir):
    def write(source: str, name: str = "app") -> Path:
        path = workdir / f"{name}.py"
        tmp = workdir / f".{name}.py.tmp"
        tmp.write_text(textwrap.dedent(source))
        tmp.chmod(0o644)
        os.replace(tmp, path)  # never a half-written module
        return path

    return write


@pytest.fixture
def start_server(workdir):
    started = []

    def start(*args, **kwargs) -> Server:
        srv = Server(workdir, args, **kwargs)
        started.append(srv)
        return srv

    try:
        yield start
    finally:
        for srv in started:
            srv.kill()


# -- HTTP helpers ---------------------------------------------------------------------------------------
def get(port, path="/", headers=None, timeout=DEADLINE):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw(port, data: bytes, timeout=DEADLINE) -> bytes:
    """Everything the server sends for `data` until it closes (the bytes as they are, unparsed)."""
    with Conn(port, timeout=timeout) as conn:
        conn.send(data)
        return conn.read_until_eof(time.monotonic() + timeout)


@pytest.fixture
def kit():
    """The helpers above, for test modules (importlib mode cannot import conftest by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(get=get, raw=raw, LoadClient=LoadClient, wait_for=wait_for, DEADLINE=DEADLINE,
                           server_env=server_env, free_port=free_port, ROOT=ROOT)


PID_APP = """
import os, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    body = f"{VERSION} {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

VERSION = "v1"
"""


@pytest.fixture
def pid_app(write_app):
    """An app answering 'VERSION PID'; call it with a version to rewrite it."""
    def write(version="v1"):
        return write_app(PID_APP.replace('VERSION = "v1"', f"VERSION = {version!r}"))

    write()
    return write


@pytest.fixture
def cli():
    """cli(*args, cwd=None, env=None, pass_fds=()) -> Proc: `python -m hatchway *args`, killed after the test."""
    procs = []

    def start(*args, **kwargs):
        proc = Proc(list(args), **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop(9)
        proc.log.unlink(missing_ok=True)
