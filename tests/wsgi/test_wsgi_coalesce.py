"""A streamed body under the stall hand-off: the app's blocks are coalesced into a few sends, and a block is
never held while the app takes its time over the next one (PEP 3333: the monitor thread keeps it moving).

Real sockets, real clients.  How many sends the server made is read from the client's side of the wire:
TCP_INFO's count of segments received (Linux).  Inline (`--threads 0`) and on the plain pool every block is
its own send, as before; only the body's bytes are checked there.
"""
import http.client
import socket
import struct
import threading
import time

import pytest

from support import RunningServer, thread_modes, wait_for

BLOCKS = 400
BLOCK = b"0123456789abcdef"
TCPI_SEGS_IN = 140  # offset of tcpi_segs_in in struct tcp_info (Linux 4.2+)


def _stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (BLOCK for _ in range(BLOCKS))


def _write_stream(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    for _ in range(BLOCKS):
        write(BLOCK)
    return []


def _read_chunked(sock, deadline):
    """The whole response (head + chunked body) as bytes, read until the last chunk."""
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        part = sock.recv(65536)
        assert part, f"connection closed after {len(data)} bytes"
        data += part
    return data


def _dechunk(data):
    head, _, rest = data.partition(b"\r\n\r\n")
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if not size:
            return head, body
        body += rest[:size]
        rest = rest[size + 2:]


def _segments_in(sock):
    return struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), TCPI_SEGS_IN)[0]


@pytest.mark.parametrize("app", [_stream, _write_stream], ids=["iterable", "write"])
@pytest.mark.parametrize("threads", thread_modes((0, 8)))
def test_a_fast_stream_goes_out_in_a_few_sends(threads, app):
    srv = RunningServer(app, threads=threads, validate=False)
    try:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        before = _segments_in(sock)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _dechunk(_read_chunked(sock, time.monotonic() + 10))
        assert head.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in head.lower()
        assert body == BLOCK * BLOCKS
        segments = _segments_in(sock) - before
        sock.close()
        if srv.srv.worker.handoff is not None:
            # One send for the lot, more only where the monitor woke mid-stream; 400 without coalescing.
            assert segments < 40, segments
    finally:
        srv.close()


def _stall_after_first(release):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"first"
            if not release.wait(10):  # blocks until the client has "first": deferred output must not wait for us
                yield b"TIMEOUT"
            yield b"second"
        return body()
    return app


@pytest.mark.parametrize("threads", thread_modes((0, 8)))
def test_a_block_reaches_the_client_while_the_app_works_on_the_next(threads):
    release = threading.Event()
    srv = RunningServer(_stall_after_first(release), threads=threads, validate=False)
    try:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while b"first" not in data:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            part = sock.recv(4096)
            assert part, data
            data += part
        release.set()
        head, body = _dechunk(data + _read_chunked(sock, time.monotonic() + 10) if not data.endswith(
            b"\r\n0\r\n\r\n") else data)
        assert body == b"firstsecond"
        sock.close()
    finally:
        release.set()
        srv.close()


@pytest.mark.parametrize("threads", thread_modes((0, 8)))
def test_a_client_gone_while_output_is_deferred(threads):
    """The client resets with a block deferred and the app still producing: the send that finds the peer
    gone ends the connection (monitor's or owner's), the app's iterable is closed, the worker serves on."""
    gone = threading.Event()
    closed = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/ok":
            return [b"ok"]

        def body():
            try:
                yield b"x" * 100
                gone.wait(10)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:  # keeps producing until the server stops asking
                    yield b"y" * 1000
            finally:
                closed.set()
        return body()

    srv = RunningServer(app, threads=threads, validate=False)
    try:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"GET /s HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST
        gone.set()
        assert closed.wait(10), "the app's iterable was never closed"
        wait_for(lambda: not srv.srv.worker.conns, timeout=10)
        if srv.srv.worker.handoff is not None:
            assert not srv.srv.worker.handoff.deferring
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/ok")
        assert c.getresponse().read() == b"ok"
        c.close()
    finally:
        gone.set()
        srv.close()
