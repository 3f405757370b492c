"""Clients that vanish mid-head, mid-body or mid-response cost at most a log line."""
import logging
import socket
import struct
import threading
import time

import pytest

from support import wait_for

TEXT = [("Content-Type", "text/plain")]


class Tracked:
    def __init__(self, parts):
        self.parts = parts
        self.closed = threading.Event()

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        self.closed.set()


def make_app(record, iterables):
    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/big":
            it = Tracked(b"z" * 65536 for _ in range(3000))
            iterables.append(it)
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return it
        body = b""
        while True:
            chunk = environ["wsgi.input"].read(65536)
            if not chunk:
                break
            body += chunk
        record.append((path, body))
        it = Tracked([b"ok"])
        iterables.append(it)
        start_response("200 OK", TEXT + [("Content-Length", "2")])
        return it
    return app


def follow_up(srv):
    with srv.connect() as c:
        c.request(target="/follow-up")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"ok"


def hatchway_errors(caplog):
    return [r for r in caplog.records if r.name.startswith("hatchway") and r.levelno >= logging.ERROR]


def abort(sock):
    """Close with RST (SO_LINGER 0) instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_vanish_mid_head(serve, caplog, how):
    caplog.set_level(logging.INFO)
    record, its = [], []
    srv = serve(make_app(record, its))
    c = srv.connect()
    c.send(b"GET /mid-head HTTP/1.1\r\nHost: a\r\nX-Half: ")
    (abort(c.sock) if how == "rst" else c.close())
    follow_up(srv)
    assert record == [("/follow-up", b"")]
    assert len(hatchway_errors(caplog)) <= 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_vanish_mid_body(serve, caplog, how, framing):
    caplog.set_level(logging.INFO)
    record, its = [], []
    srv = serve(make_app(record, its))
    c = srv.connect()
    if framing == "content-length":
        c.send(b"POST /mid-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"p" * 5000)
    else:
        c.send(b"POST /mid-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + b"p" * 3000)
    (abort(c.sock) if how == "rst" else c.close())
    follow_up(srv)
    # The app must never take the truncated body as a complete one.
    assert [p for p, _ in record] == ["/follow-up"], record
    wait_for(lambda: all(it.closed.is_set() for it in its), 5, what="close() on every app iterable")
    assert len(hatchway_errors(caplog)) <= 1


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_vanish_mid_response(serve, caplog, how):
    caplog.set_level(logging.INFO)
    record, its = [], []
    srv = serve(make_app(record, its))
    c = srv.connect()
    c.request(target="/big")
    c.read_exact(200000, deadline=time.monotonic() + 10)
    (abort(c.sock) if how == "rst" else c.close())
    wait_for(lambda: its and its[0].closed.is_set(), 10, what="close() on the app iterable after the disconnect")
    follow_up(srv)
    assert len(hatchway_errors(caplog)) <= 1


def test_many_disconnects_then_still_serving(serve):
    record, its = [], []
    srv = serve(make_app(record, its))
    for i in range(30):
        c = srv.connect()
        c.send([b"GET /x HTTP/1.1\r\nHo", b"POST /y HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab", b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n"][i % 3])
        abort(c.sock) if i % 2 else c.close()
    follow_up(srv)
    wait_for(lambda: all(it.closed.is_set() for it in its), 10, what="close() on every app iterable")
