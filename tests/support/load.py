"""Bounded load clients for real servers: keep-alive GETs that may retry (LoadClient), and clients that
never retry (SessionLoad, PipelineLoad; the `noretry` fixture).  Each stops by itself (count, time)."""
from __future__ import annotations

import http.client
import threading
import time

import pytest

from support.rawhttp import Closed, Conn
from support.wait import DEADLINE, wait_for


class _LoadThreads:
    """The lifecycle the load clients share: start their threads on entry, stop and join them on exit."""

    threads: list[threading.Thread]
    stop_event: threading.Event

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)


class LoadClient(_LoadThreads):
    """N threads of keep-alive GETs, bounded by count and time.

    A request that fails on a *reused* connection before any byte of the answer arrived is retried
    once on a new connection: the server may close an idle keep-alive connection at any moment and
    RFC 9112 9.3.1 lets a client retry an idempotent request then (every HTTP client does).  Any other
    failure, and any status but 200, is counted as an error.
    """

    def __init__(self, port, path="/", threads=4, max_requests=100_000, max_seconds=60.0, unix_path=None):
        self.port = port
        self.path = path
        self.unix_path = unix_path
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.retried = 0
        self.errors: list = []
        self.failed_after: list = []  # per error: the last body the failed connection had answered
        self.error_times: list = []
        self.bodies: list = []   # (monotonic time, body) of every success, in order per thread
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def wait_successes(self, n, timeout=DEADLINE):
        start = self.ok
        wait_for(lambda: self.ok >= start + n or self.errors, timeout, what=f"{n} more successful requests")
        return self

    def _connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)

    def _fail(self, exc, last):
        with self.lock:
            self.errors.append(repr(exc) if isinstance(exc, BaseException) else exc)
            self.failed_after.append(last)
            self.error_times.append(time.monotonic())

    def _run(self, idx):
        conn, used, last = None, False, None
        count = 0
        while not self.stop_event.is_set() and count < self.max_requests and time.monotonic() < self.deadline:
            count += 1
            for attempt in (0, 1):
                if conn is None:
                    conn, used, last = self._connect(), False, None
                try:
                    conn.request("GET", self.path)
                    resp = conn.getresponse()
                    body = resp.read()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    conn = None
                    if used and attempt == 0:
                        with self.lock:
                            self.retried += 1
                        continue
                    self._fail(exc, last)
                    break
                except Exception as exc:  # noqa: BLE001 - any other failure is an error to report
                    conn.close()
                    conn = None
                    self._fail(exc, last)
                    break
                used = True
                if resp.status == 200:
                    with self.lock:
                        self.ok += 1
                        self.bodies.append((time.monotonic(), body))
                    last = body
                else:
                    self._fail(f"status {resp.status}: {body[:200]!r}", last)
                if resp.will_close:
                    conn.close()
                    conn = None
                break
        if conn is not None:
            conn.close()


# -- clients that never retry (issue 11: reloads must lose nothing even for them) --------------------
class _NoRetryLoad(_LoadThreads):
    """Threads of keep-alive traffic that never retry.  `errors` holds every failure; a refused new
    connection is counted apart (`refused`): after a full stop that is the only honest answer."""

    def __init__(self, port, threads, max_seconds):
        self.port = port
        self.lock = threading.Lock()
        self.ok = 0
        self.errors: list = []
        self.refused = 0
        self.bodies: list = []
        self.stop_event = threading.Event()
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._guard, args=(i,), daemon=True) for i in range(threads)]

    def running(self) -> bool:
        return not self.stop_event.is_set() and time.monotonic() < self.deadline

    def wait_successes(self, n, timeout=DEADLINE):
        start = self.ok
        wait_for(lambda: self.ok >= start + n or self.errors, timeout, what=f"{n} more successful requests")
        return self

    def _success(self, body):
        with self.lock:
            self.ok += 1
            self.bodies.append(body)

    def _error(self, what):
        with self.lock:
            self.errors.append(what)

    def _run(self, idx):
        raise NotImplementedError  # each load's own traffic

    def _guard(self, idx):
        try:
            self._run(idx)
        except Exception as exc:  # noqa: BLE001 - a client bug must show, not hang the test
            self._error(f"client crashed: {exc!r}")


class SessionLoad(_NoRetryLoad):
    """requests.Session loops: urllib3 reuses the pooled connection; no retries at all."""

    def __init__(self, port, threads=4, max_seconds=60.0, path="/"):
        super().__init__(port, threads, max_seconds)
        self.url = f"http://127.0.0.1:{port}{path}"

    def _run(self, idx):
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        adapter = HTTPAdapter(max_retries=0)
        session.mount("http://", adapter)
        try:
            while self.running():
                try:
                    r = session.get(self.url, timeout=DEADLINE)
                except requests.ConnectionError as exc:
                    if "refused" in str(exc).lower():
                        with self.lock:
                            self.refused += 1
                        if self.stop_event.wait(0.01):
                            return
                        continue
                    self._error(repr(exc))
                    continue
                except Exception as exc:  # noqa: BLE001
                    self._error(repr(exc))
                    continue
                if r.status_code == 200:
                    self._success(r.content)
                else:
                    self._error(f"status {r.status_code}")
        finally:
            session.close()


class PipelineLoad(_NoRetryLoad):
    """Raw sockets sending `depth` requests at a time and reading the answers.  A response with
    Connection: close ends the connection; the requests behind it were not answered and go again on a
    new connection (RFC 9112 9.3.2: they were never processed).  Anything else that ends a connection
    before its answers - EOF, reset - is an error."""

    def __init__(self, port, threads=4, max_seconds=60.0, depth=8, path="/"):
        super().__init__(port, threads, max_seconds)
        self.depth = depth
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()

    def _run(self, idx):
        conn: Conn | None = None
        while self.running():
            if conn is None:
                try:
                    conn = Conn(self.port, timeout=DEADLINE)
                except ConnectionRefusedError:
                    with self.lock:
                        self.refused += 1
                    if self.stop_event.wait(0.01):
                        return
                    continue
            try:
                conn.send(self.request * self.depth)
                for _ in range(self.depth):
                    resp = conn.read_response()
                    if resp.status != 200:
                        self._error(f"status {resp.status}")
                    else:
                        self._success(resp.body)
                    if resp.has_token("connection", "close"):
                        conn.close()
                        conn = None
                        break
            except (OSError, Closed) as exc:  # EOF or reset before the answers: an error
                self._error(repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


@pytest.fixture
def noretry():
    from types import SimpleNamespace

    return SimpleNamespace(SessionLoad=SessionLoad, PipelineLoad=PipelineLoad)
