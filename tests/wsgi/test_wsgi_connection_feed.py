"""on_readable() carries an inlined copy of feed() (the per-request read path): the same byte
streams, fed both ways, must give the same responses and the same requests to the app.

The connection runs on a real socket pair, driven by hand in place of the event loop."""
import random
import re
import select
import socket
import time

import pytest

from hatchway.server.config import ServerConfig
from hatchway.wsgi.connection import HTTPConnection
from hatchway.wsgi.gateway import Gateway


class _Loop:
    """What a connection asks of its worker, without a loop: inline mode, never draining."""

    handoff = None
    draining = False

    def __init__(self):
        self.now = time.monotonic()

    def watch(self, conn, events):
        pass

    def suspend(self, conn):
        pass

    def resume(self, conn, events=0):
        pass

    def forget(self, conn):
        pass


def _app(seen):
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"], body))
        out = b"%s %s %d" % (environ["REQUEST_METHOD"].encode(), environ["PATH_INFO"].encode(), len(body))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
        return [out]
    return app


STREAMS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /a?x=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",  # pipelined
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    b"GET /after HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",  # rejected: 400, linger
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n",
]


def _run(pieces, via_feed):
    seen: list = []
    gateway = Gateway(_app(seen), ServerConfig())
    server_side, client = socket.socketpair()
    server_side.setblocking(False)
    conn = HTTPConnection(_Loop(), server_side, ("127.0.0.1", 1), {"wsgi.version": (1, 0)}, gateway)
    try:
        for piece in pieces:
            if conn.state == 7:  # CLOSED
                break
            if via_feed:
                conn.feed(piece)
            else:
                client.sendall(piece)
                ready, _, _ = select.select([server_side], [], [], 5)
                assert ready
                conn.on_readable()
        client.setblocking(False)
        out = b""
        while True:
            try:
                data = client.recv(65536)
            except BlockingIOError:
                break
            if not data:
                break
            out += data
        return re.sub(rb"Date: [^\r]*\r\n", b"", out), seen, conn.state
    finally:
        conn.close()
        client.close()


def _splits(stream, rng):
    cuts = sorted(rng.sample(range(1, len(stream)), min(3, len(stream) - 1)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]


@pytest.mark.parametrize("index", range(len(STREAMS)))
def test_feed_and_on_readable_agree(index):
    stream = STREAMS[index]
    rng = random.Random(index)
    for pieces in ([stream], [stream[i:i + 1] for i in range(len(stream))], _splits(stream, rng),
                   _splits(stream, rng)):
        by_feed = _run(pieces, via_feed=True)
        by_socket = _run(pieces, via_feed=False)
        assert by_feed == by_socket, pieces
        assert by_feed[0].startswith(b"HTTP/1.1 "), by_feed  # something was answered both ways
