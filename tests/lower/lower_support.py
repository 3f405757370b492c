"""Helpers for tests/lower: run a server in a thread, wait on conditions, read raw HTTP responses."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

DEADLINE = 20.0  # generous: the machine has 2 loaded cores


def wait_for(predicate, timeout: float = DEADLINE, interval: float = 0.01, what: str = "condition"):
    """Poll `predicate` until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def serving(server, poll_interval: float = 0.1):
    """Run server.serve_forever() in a thread; on exit shut it down, close it, join the thread."""
    errors = []

    def run():
        try:
            server.serve_forever(poll_interval)
        except BaseException as exc:  # surfaced in the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(DEADLINE)
        assert not thread.is_alive(), "serve_forever did not return after shutdown()"
    if errors:
        raise errors[0]


def connect(address, timeout: float = DEADLINE) -> socket.socket:
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address)
        return sock
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address[:2])
    return sock


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name: str):
        values = [v for k, v in self.headers if k == name.lower()]
        return values[0] if values else None

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:80]!r}>"


class RawHTTP:
    """A strict reader of HTTP/1.1 responses from one socket, for pipelining and framing checks."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before a complete line")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError(f"connection closed with {len(self.buf)} of {n} body bytes")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, method: str = "GET") -> Response:
        status_line = self._line().decode("latin-1")
        version, status, reason = (status_line.split(" ", 2) + [""])[:3]
        assert version in ("HTTP/1.1", "HTTP/1.0"), status_line
        headers = []
        while True:
            line = self._line()
            if not line:
                break
            name, sep, value = line.decode("latin-1").partition(":")
            assert sep and name == name.strip(), line
            headers.append((name.lower(), value.strip()))
        resp = Response(version, int(status), reason, headers, b"")
        code = resp.status
        te = resp.header("transfer-encoding")
        cl = resp.header("content-length")
        if method == "HEAD" or code < 200 or code in (204, 304):
            return resp
        if te is not None:
            assert te.lower() == "chunked", te
            assert cl is None, "both Content-Length and Transfer-Encoding"
            chunks = []
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass  # trailers
                    break
                chunks.append(self._exact(size))
                assert self._exact(2) == b"\r\n"
            resp.body = b"".join(chunks)
        elif cl is not None:
            resp.body = self._exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def closed_by_peer(self, timeout: float = DEADLINE) -> bool:
        """True when the server closes the connection (EOF or reset) with nothing more sent."""
        self.sock.settimeout(timeout)
        if self.buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
