"""Test support for the serving-core acceptance suite.

* ``Conn``: a raw TCP client with a tiny *strict* HTTP/1.x response reader
  (status line, headers, Content-Length / chunked / close-delimited bodies).
  Anything the reader finds malformed raises ``Rejection``.
* ``RunningServer``: starts ``hatchway.wsgi.make_server`` on 127.0.0.1:0 and
  runs ``serve_forever`` in a background thread; ``close()`` shuts it down.
* ``Recorder``: a recording echo WSGI app (every request it sees is kept).
* ``wait_until``: polling with a deadline (never a fixed sleep).

No mocks: everything goes through real sockets.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
from wsgiref.validate import validator

TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
STATUS_RE = re.compile(rb"^HTTP/1\.([01]) ([1-9][0-9][0-9]) ([\t -~\x80-\xff]*)$")
CTL_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

DEFAULT_TIMEOUT = 10.0

# The concurrency mode every server started by these helpers runs in, for the CI matrix:
#   HWTEST_MODE=auto    mode-parametrized tests run once, with 8 threads, stall hand-off (the default)
#   HWTEST_MODE=inline  mode-parametrized tests run once, inline (--threads 0)
#   HWTEST_MODE=pool    mode-parametrized tests run once, 8 threads, --concurrency pool; every
#                              server with threads is a pool
#   unset                      each test's own modes (threads 0 = inline, threads N = the default, auto)
TEST_MODE = os.environ.get("HWTEST_MODE", "")
if TEST_MODE not in ("", "auto", "inline", "pool"):
    raise RuntimeError(f"HWTEST_MODE must be auto, inline or pool, not {TEST_MODE!r}")


def thread_modes(default=(0, 4)):
    """The `threads` values a mode-parametrized test runs with."""
    if TEST_MODE == "inline":
        return [0]
    if TEST_MODE:
        return [8]
    return list(default)


def server_mode(threads, options):
    """(threads, options) for make_server under HWTEST_MODE.  The mode-parametrized tests get
    their threads from thread_modes(); a test that asks for threads itself (it tests threads) keeps
    them, in the run's concurrency."""
    if TEST_MODE in ("auto", "pool") and threads:
        return threads, dict(options, concurrency=TEST_MODE)
    return threads, options


class Rejection(AssertionError):
    """The server sent something that is not valid HTTP/1.1 framing."""


class Closed(AssertionError):
    """The connection was closed where a response (part) was expected."""


def wait_until(predicate, timeout=DEFAULT_TIMEOUT, interval=0.01, message="condition"):
    """Poll ``predicate`` until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Response:
    def __init__(self, version, status, reason, headers, body, interim, framing, raw_head):
        self.version = version          # "HTTP/1.1"
        self.status = status            # int
        self.reason = reason            # str
        self.headers = headers          # list of (lower-case name, value) str tuples
        self.body = body                # bytes
        self.interim = interim          # list of (status, headers) for 1xx responses read first
        self.framing = framing          # "length" | "chunked" | "close" | "none"
        self.raw_head = raw_head        # bytes of the status line + headers

    def get_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def get(self, name, default=None):
        values = self.get_all(name)
        if not values:
            return default
        assert len(values) == 1, f"header {name!r} appears {len(values)} times: {values}"
        return values[0]

    def has_token(self, name, token):
        token = token.lower()
        for value in self.get_all(name):
            if token in [t.strip().lower() for t in value.split(",")]:
                return True
        return False

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} headers={self.headers} body={self.body[:200]!r}>"


class Conn:
    """A raw client connection with a strict response reader."""

    def __init__(self, port, timeout=DEFAULT_TIMEOUT, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.reset = False

    # -- context manager -------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    # -- sending ---------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method="GET", target="/", headers=(("Host", "test"),), body=b"", version="HTTP/1.1"):
        head = f"{method} {target} {version}\r\n"
        for k, v in headers:
            head += f"{k}: {v}\r\n"
        self.send(head.encode("latin-1") + b"\r\n" + body)

    # -- receiving -------------------------------------------------------
    def _fill(self, deadline):
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("read deadline passed")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            self.reset = True
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    def read_line(self, deadline, limit=131072, what="line"):
        while True:
            idx = self.buf.find(b"\n")
            if idx >= 0:
                line = bytes(self.buf[: idx + 1])
                del self.buf[: idx + 1]
                if not line.endswith(b"\r\n"):
                    raise Rejection(f"bare LF in {what}: {line!r}")
                line = line[:-2]
                if b"\r" in line:
                    raise Rejection(f"bare CR in {what}: {line!r}")
                return line
            if len(self.buf) > limit:
                raise Rejection(f"{what} longer than {limit} bytes")
            if not self._fill(deadline):
                raise Closed(f"connection closed while reading {what}; pending={bytes(self.buf)[:200]!r}")

    def read_exact(self, n, deadline, what="body"):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise Closed(f"connection closed after {len(self.buf)} of {n} bytes of {what}")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_until_eof(self, deadline):
        while self._fill(deadline):
            pass
        data = bytes(self.buf)
        self.buf.clear()
        return data

    def _read_head(self, deadline):
        status_line = self.read_line(deadline, what="status line")
        m = STATUS_RE.match(status_line)
        if not m:
            raise Rejection(f"bad status line {status_line!r}")
        raw = [status_line]
        headers = []
        while True:
            line = self.read_line(deadline, what="header line")
            raw.append(line)
            if line == b"":
                break
            if line[:1] in (b" ", b"\t"):
                raise Rejection(f"obs-fold in response: {line!r}")
            name, sep, value = line.partition(b":")
            if not sep or not TOKEN_RE.match(name):
                raise Rejection(f"bad header line {line!r}")
            value = value.strip(b" \t")
            if CTL_IN_VALUE.search(value):
                raise Rejection(f"control character in header value {line!r}")
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))
        version = "HTTP/1." + m.group(1).decode()
        return version, int(m.group(2)), m.group(3).decode("latin-1"), headers, b"\r\n".join(raw) + b"\r\n"

    def read_response(self, method="GET", timeout=None):
        """Read one final response (1xx interim responses are collected on it)."""
        deadline = self._deadline(timeout)
        interim = []
        while True:
            version, status, reason, headers, raw_head = self._read_head(deadline)
            if 100 <= status < 200:
                if status == 101:
                    raise Rejection("unexpected 101 Switching Protocols")
                interim.append((status, headers))
                continue
            break
        names = [k for k, _ in headers]
        te = [v for k, v in headers if k == "transfer-encoding"]
        cl = [v for k, v in headers if k == "content-length"]
        if te and cl:
            raise Rejection(f"response has both Transfer-Encoding and Content-Length: {headers}")
        if len(cl) > 1:
            raise Rejection(f"response has several Content-Length headers: {cl}")
        if len(te) > 1 or (te and te[0].strip().lower() != "chunked"):
            raise Rejection(f"unexpected response Transfer-Encoding {te}")
        if cl and not re.fullmatch(r"[0-9]+", cl[0]):
            raise Rejection(f"bad response Content-Length {cl[0]!r}")
        if "date" not in names:
            raise Rejection(f"response without Date header: {headers}")
        if method == "HEAD" or status in (204, 304):
            body, framing = b"", "none"
        elif te:
            body, framing = self._read_chunked(deadline), "chunked"
        elif cl:
            body, framing = self.read_exact(int(cl[0]), deadline), "length"
        else:
            body, framing = self.read_until_eof(deadline), "close"
        return Response(version, status, reason, headers, body, interim, framing, raw_head)

    def _read_chunked(self, deadline):
        out = bytearray()
        while True:
            line = self.read_line(deadline, what="chunk size line")
            size_part = line.split(b";", 1)[0].strip(b" \t")
            if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_part):
                raise Rejection(f"bad chunk size line {line!r}")
            size = int(size_part, 16)
            if size == 0:
                break
            out += self.read_exact(size, deadline, what="chunk data")
            if self.read_exact(2, deadline, what="chunk CRLF") != b"\r\n":
                raise Rejection("chunk data not followed by CRLF")
        while self.read_line(deadline, what="trailer line") != b"":
            pass
        return bytes(out)

    def read_interim(self, timeout=None):
        """Read exactly one 1xx response head and return (status, headers)."""
        deadline = self._deadline(timeout)
        version, status, reason, headers, raw_head = self._read_head(deadline)
        return status, headers

    def wait_closed(self, timeout=None):
        """Assert the server closes the connection without sending more bytes."""
        deadline = self._deadline(timeout)
        try:
            while self._fill(deadline):
                pass
        except TimeoutError:
            raise AssertionError(
                f"server did not close the connection within {timeout or self.timeout}s"
            ) from None
        if self.buf:
            raise AssertionError(f"unexpected bytes before close: {bytes(self.buf)[:300]!r}")
        return True

    def is_closed_now(self):
        """Non-blocking-ish probe: has the peer closed (EOF or reset)?"""
        try:
            self._fill(time.monotonic() + 0.05)
        except TimeoutError:
            return False
        return self.eof

    def assert_no_data(self, timeout=0.3):
        """Nothing arrives within ``timeout`` (used only to show *absence*, e.g. no 100 Continue)."""
        if self.buf:
            raise AssertionError(f"unexpected data: {bytes(self.buf)[:300]!r}")
        try:
            got = self._fill(time.monotonic() + timeout)
        except TimeoutError:
            return
        if got:
            raise AssertionError(f"unexpected data: {bytes(self.buf)[:300]!r}")


class RunningServer:
    """hatchway's make_server on 127.0.0.1:0, serve_forever in a thread."""

    def __init__(self, app, threads=0, validate=True, **options):
        from hatchway.wsgi import make_server

        self.app = validator(app) if validate else app
        threads, options = server_mode(threads, options)
        self.srv = make_server("127.0.0.1", 0, self.app, threads=threads, **options)
        self.host, self.port = self.srv.server_address[:2]
        self.threads = threads
        self._thread = threading.Thread(target=self.srv.serve_forever, name="hatchway-serve", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout=DEFAULT_TIMEOUT):
        return Conn(self.port, timeout=timeout)

    def close(self):
        if self._closed:
            return
        self._closed = True
        done = threading.Event()

        def stop():
            try:
                self.srv.shutdown()
            finally:
                done.set()

        threading.Thread(target=stop, name="hatchway-shutdown", daemon=True).start()
        ok = done.wait(15)
        try:
            self.srv.server_close()
        finally:
            self._thread.join(10)
        if not ok:
            raise AssertionError("srv.shutdown() did not return within 15 s")
        if self._thread.is_alive():
            raise AssertionError("serve_forever() still running 10 s after shutdown()")


class Recorder:
    """Recording echo app: remembers every request, answers with JSON of what it saw.

    The body is read with read(n) until b"" (so it works for chunked bodies without
    CONTENT_LENGTH). Paths starting with ``/__probe__`` are recorded separately.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []
        self.probes = []

    def __call__(self, environ, start_response):
        stream = environ["wsgi.input"]
        body = bytearray()
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            body += chunk
        rec = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "body": bytes(body).decode("latin-1"),
            "host": environ.get("HTTP_HOST"),
            "content_length": environ.get("CONTENT_LENGTH", ""),
            "remote_port": environ.get("REMOTE_PORT"),
            "raw_uri": environ.get("RAW_URI"),
            "http": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        }
        with self.lock:
            (self.probes if rec["path"].startswith("/__probe__") else self.seen).append(rec)
        payload = json.dumps(rec, sort_keys=True).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
             ("X-Echo-Method", rec["method"])],
        )
        return [payload]

    def since(self, index, port=None):
        with self.lock:
            recs = self.seen[index:]
        if port is not None:
            recs = [r for r in recs if r["remote_port"] in (None, str(port))]
        return recs


def sha256(data):
    return hashlib.sha256(data).hexdigest()
