"""Issue 8's acceptance: nothing blocks the loop, slow clients hold no thread, in every mode.

Real sockets against a server in this process.  The latency bounds (50 ms) are the issue's own;
everything else waits on conditions with generous deadlines.  "auto" is the default (the stall
hand-off, 8 threads); "pool" is `--threads 8 --concurrency pool`; "inline" is `--threads 0`.
These tests name their modes themselves, so HWTEST_MODE does not change them.
"""
from __future__ import annotations

import selectors
import socket
import threading
import time

import pytest

from hatchway.wsgi import make_server

MODES = {"auto": dict(threads=8), "pool": dict(threads=8, concurrency="pool"), "inline": dict(threads=0)}
BOUND = 0.050  # the issue's: a fresh request is delayed by no more than this


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        time.sleep(float(environ.get("QUERY_STRING") or "2"))
    elif path == "/read":
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]
    elif path == "/exit":
        raise SystemExit(3) if environ.get("QUERY_STRING") != "kbd" else KeyboardInterrupt()
    elif path == "/pattern":
        write = start_response("200 OK", [("Content-Length", str(16 << 20))])
        for i in range(16):
            write(bytes([65 + i]) * (1 << 20))
        return []
    elif path == "/write":
        write = start_response("200 OK", [("Content-Length", str(16 << 20))])
        chunk = b"w" * (1 << 20)
        for _ in range(16):
            write(chunk)
        return []
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


class Server:
    def __init__(self, mode, **options):
        self.srv = make_server("127.0.0.1", 0, app, **MODES[mode], **options)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        closer = threading.Thread(target=self.srv.shutdown, daemon=True)
        closer.start()
        closer.join(15)
        self.srv.server_close()
        self.thread.join(10)
        assert not closer.is_alive() and not self.thread.is_alive(), "the server did not stop"

    def connect(self, timeout=10):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def fresh_request(self) -> float:
        """Seconds for a GET / on a new connection, answered in full."""
        start = time.monotonic()
        with self.connect() as c:
            c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = _read_all(c)
        took = time.monotonic() - start
        assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\nok"), data[:200]
        return took


def _read_all(c) -> bytes:
    out = []
    while True:
        d = c.recv(65536)
        if not d:
            return b"".join(out)
        out.append(d)


def _read_head(c) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        assert d, f"closed before a response head: {buf!r}"
        buf += d
    return buf


def _assert_not_delayed(server, samples=5):
    """Fresh requests meanwhile: each within BOUND.  One retry of the whole round absorbs a
    scheduling hiccup of this shared, loaded machine; a server that is blocked fails both."""
    for _attempt in range(2):
        times = [server.fresh_request() for _ in range(samples)]
        if max(times) <= BOUND:
            return
    raise AssertionError(f"fresh requests took {', '.join(f'{t * 1000:.1f}' for t in times)} ms (bound 50 ms)")


@pytest.fixture
def server():
    started = []

    def start(mode, **options):
        s = Server(mode, **options)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "pool", "inline"])
def test_expect_continue_then_a_1_byte_per_second_body_delays_no_one(server, mode):
    srv = server(mode)
    with srv.connect() as dripper:
        dripper.sendall(b"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert dripper.recv(100).startswith(b"HTTP/1.1 100 Continue")
        for byte in b"abc":
            dripper.sendall(bytes([byte]))
            _assert_not_delayed(srv, samples=3)
            time.sleep(0.3)  # the drip's pace, not a wait for the server
        dripper.sendall(b"d")
        head = _read_head(dripper)
        assert head.startswith(b"HTTP/1.1 200 ")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "pool", "inline"])
def test_fifty_clients_sending_bodies_at_1_byte_per_second_delay_no_fresh_request(server, mode):
    srv = server(mode)
    drippers = [srv.connect() for _ in range(50)]
    try:
        for c in drippers:
            c.sendall(b"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\n")
        for _ in range(2):
            for c in drippers:
                c.sendall(b"x")
            _assert_not_delayed(srv)
            time.sleep(0.5)
        for c in drippers:
            c.sendall(b"z")
        for c in drippers:
            assert _read_head(c).startswith(b"HTTP/1.1 200 ")
    finally:
        for c in drippers:
            c.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "pool"])
def test_a_view_sleeping_2s_does_not_delay_a_fast_request_on_another_connection(server, mode):
    srv = server(mode)
    with srv.connect() as slow:
        slow.sendall(b"GET /sleep?2 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)  # let it reach the app (a fast request before that proves nothing)
        _assert_not_delayed(srv)
        slow.settimeout(10)
        assert _read_head(slow).startswith(b"HTTP/1.1 200 ")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "pool", "inline"])
def test_a_client_that_never_reads_a_16mib_write_body_delays_no_one(server, mode):
    srv = server(mode, write_timeout=3)
    with srv.connect() as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(b"GET /write HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)  # the app is writing into a full socket by now
        _assert_not_delayed(srv)
        # The write-stall timeout (3 s here) still ends the non-reader: the server lets it go.
        worker = srv.srv.worker
        deadline = time.monotonic() + 20
        while worker.conns and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not worker.conns, "the non-reading client was never cut off"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "pool"])
def test_500_connections_at_once_half_of_them_slow_views_lose_nothing(server, mode):
    srv = server(mode)
    sel = selectors.DefaultSelector()
    socks = []
    try:
        for i in range(500):
            s = socket.socket()
            s.connect(("127.0.0.1", srv.port))
            path = b"/sleep?0.02" if i % 2 else b"/"
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path)
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, [])
        done = {}
        deadline = time.monotonic() + 60
        while len(done) < 500 and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                try:
                    d = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if d:
                    key.data.append(d)
                else:
                    done[key.fileobj] = b"".join(key.data)
                    sel.unregister(key.fileobj)
        assert len(done) == 500, f"{500 - len(done)} connections got no complete answer"
        bad = [r[:60] for r in done.values() if not (r.startswith(b"HTTP/1.1 200 ") and r.endswith(b"ok"))]
        assert not bad, f"{len(bad)} bad answers, e.g. {bad[:3]}"
    finally:
        sel.close()
        for s in socks:
            s.close()


class _Reader:
    """Content-Length responses off one socket, keeping what belongs to the next one."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(1 << 20)
        assert d, f"closed with {len(self.buf)} bytes unparsed"
        self.buf += d

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return head, body


@pytest.mark.parametrize("mode", ["auto", "pool", "inline"])
def test_write_output_buffered_past_a_full_socket_arrives_whole_and_in_order(server, mode):
    srv = server(mode)
    with socket.socket() as c:
        c.settimeout(20)
        c.connect(("127.0.0.1", srv.port))
        c.sendall(b"GET /pattern HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)  # let the socket fill: inline mode has spilled most of it to a file by now
        reader = _Reader(c)
        head, body = reader.response()
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body == b"".join(bytes([65 + i]) * (1 << 20) for i in range(16))
        head, body = reader.response()  # the pipelined answer comes after the spilled output
        assert head.startswith(b"HTTP/1.1 200 ") and body == b"ok"


@pytest.mark.parametrize("mode", ["auto", "pool", "inline"])
@pytest.mark.parametrize("how", ["exit", "kbd"])
def test_systemexit_or_keyboardinterrupt_from_the_app_is_a_500_and_the_worker_lives(server, mode, how):
    srv = server(mode)
    with srv.connect() as c:
        c.sendall(b"GET /exit?%s HTTP/1.1\r\nHost: t\r\n\r\n" % how.encode())
        data = _read_all(c)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert srv.fresh_request() < 10  # still serving
