"""Timeouts: header (slowloris), keep-alive idle, slow body, slow reader; others still served."""
import select
import socket
import threading
import time

import pytest

from support import Recorder, wait_for

TEXT = [("Content-Type", "text/plain")]


def drip_until_answer(c, data, interval=0.1, limit=8.0):
    """Send one byte per interval until the server answers or closes; returns seconds elapsed."""
    start = time.monotonic()
    i = 0
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while time.monotonic() - start < limit:
        r, _, _ = select.select([c.sock], [], [], interval)  # the drip pace is the client's behaviour
        if r:
            return time.monotonic() - start
        try:
            c.sock.send(data[i % len(data):i % len(data) + 1])
        except OSError:
            return time.monotonic() - start
        i += 1
    raise AssertionError(f"server neither answered nor closed a dripping client within {limit}s")


@pytest.mark.slow
def test_slowloris_cut_at_header_timeout(serve):
    rec = Recorder()
    srv = serve(rec, header_timeout=0.3)  # short: the test waits it out
    assert srv.srv.config.header_timeout == 0.3
    with srv.connect() as c:
        # an endless head: header lines keep coming, the blank line never does
        drip_until_answer(c, b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Drip: " + b"a" * 10000)
        resp = c.read_response()
        assert resp.status == 408 and resp.has_token("connection", "close")
        c.wait_closed(timeout=8)
    assert rec.seen == []


@pytest.mark.slow
def test_idle_connection_closes_without_408(serve):
    srv = serve(Recorder(), header_timeout=0.3)
    with srv.connect() as c:
        c.wait_closed(timeout=8)  # no bytes at all: no 408, just a close


@pytest.mark.slow
def test_keepalive_idle_timeout(serve):
    srv = serve(Recorder(), keepalive_timeout=0.3)
    assert srv.srv.config.keepalive_timeout == 0.3
    with srv.connect() as c:
        c.request()
        assert c.read_response().status == 200
        c.wait_closed(timeout=8)


def test_keepalive_connection_survives_while_active(serve):
    srv = serve(Recorder(), keepalive_timeout=2, header_timeout=5)
    with srv.connect() as c:
        # Requests arrive faster than the idle timeout: the connection is kept throughout.
        for i in range(5):
            c.request(target=f"/{i}")
            assert c.read_response().json["path"] == f"/{i}"


@pytest.mark.slow
def test_slow_body_below_min_rate_is_cut(serve):
    rec = Recorder()
    srv = serve(rec, body_timeout=0.3, body_min_rate=500)
    with srv.connect() as c:
        c.send(b"POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        drip_until_answer(c, b"z" * 64, interval=0.05, limit=8)
        resp = c.read_response()
        assert resp.status == 408, resp
        c.wait_closed(timeout=8)
    assert [r for r in rec.seen if r["path"] == "/slow"] == []


@pytest.mark.slow
def test_slow_reader_closed_after_write_timeout(serve):
    closed = threading.Event()

    class Big:
        def __iter__(self):
            for _ in range(2000):
                yield b"x" * 65536  # 125 MiB, far more than the socket buffers hold

        def close(self):
            closed.set()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/small":
            start_response("200 OK", TEXT + [("Content-Length", "5")])
            return [b"small"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Big()

    srv = serve(app, write_timeout=0.3)
    c = socket.create_connection(("127.0.0.1", srv.port))
    try:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        # never read: the server must give up on us
        assert closed.wait(15), "write_timeout did not end the response to a reader that never reads"
        # (Reading the rest now is not a useful check: the kernel still flushes the orphaned send
        # buffer through our tiny window at persist-timer pace.) The server keeps serving:
        with srv.connect() as other:
            other.request(target="/small")
            assert other.read_response().body == b"small"
    finally:
        c.close()


def test_other_clients_served_while_connections_stall(serve, threads):
    started = []

    def app(environ, start_response):
        started.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/big":
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return (b"y" * 65536 for _ in range(500))
        body = environ["wsgi.input"].read(1 << 16)
        start_response("200 OK", TEXT + [("Content-Length", str(len(body) + 2))])
        return [b"ok" + body]

    srv = serve(app)
    stalled = []
    try:
        a = srv.connect()
        a.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Partial: ")  # mid-head
        b = srv.connect()
        b.send(b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\npartial")  # mid-body
        d = srv.connect()
        d.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        d.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")  # slow (non-)reader
        stalled = [a, b, d]
        wait_for(lambda: "/big" in started, 10, what="the big response to start")
        for i in range(5):
            with srv.connect(timeout=5) as fresh:
                fresh.request(target=f"/fresh{i}")
                resp = fresh.read_response(timeout=5)
                assert resp.status == 200 and resp.body == b"ok"
        assert not a.is_closed_now() and not b.is_closed_now()
    finally:
        for s in stalled:
            s.close()
