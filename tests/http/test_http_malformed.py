"""Malformed requests: HTTPServer rejects exactly what the WSGI path rejects, then closes.

Every case goes to three servers on the same engine: a handler server with a thread pool, a handler
server running inline on the event loop, and a plain WSGI application.  Each must answer the
expected status, close the connection without answering anything smuggled behind it, and never
run the handler.
"""
import threading

import pytest

from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer
from hatchway.wsgi import make_server
from support import Conn, serving

H = "Host: a\r\n"
CASES = [
    # (name, raw request, expected status)
    ("cl-te", f"POST / HTTP/1.1\r\n{H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
              "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("te-cl", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400),
    ("duplicate-cl-differing", f"POST / HTTP/1.1\r\n{H}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400),
    ("duplicate-cl-equal", f"POST / HTTP/1.1\r\n{H}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400),
    ("cl-plus-sign", f"POST / HTTP/1.1\r\n{H}Content-Length: +4\r\n\r\nabcd", 400),
    ("cl-not-a-number", f"POST / HTTP/1.1\r\n{H}Content-Length: 4x\r\n\r\nabcd", 400),
    ("obs-fold", f"GET / HTTP/1.1\r\n{H}X-Folded: a\r\n b\r\n\r\n", 400),
    ("bare-lf", "GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare-cr-in-header", f"GET / HTTP/1.1\r\n{H}X-A: b\rc\r\n\r\n", 400),
    ("missing-host-http11", "GET / HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", f"GET / HTTP/1.1\r\n{H}{H}\r\n", 400),
    ("host-with-slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("bad-chunk-size", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\n\r\n"
                            "fffffffffffffffffffff\r\nx\r\n0\r\n\r\n", 400),
    ("te-on-http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-not-chunked-last", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("te-unsupported-coding", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("te-twice", f"POST / HTTP/1.1\r\n{H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("nul-in-value", f"GET / HTTP/1.1\r\n{H}X-A: b\x00c\r\n\r\n", 400),
    ("space-before-colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("http-2.0", f"GET / HTTP/2.0\r\n{H}\r\n", 505),
    ("http-1.2", f"GET / HTTP/1.2\r\n{H}\r\n", 505),
    ("unknown-method", f"FROBNICATE / HTTP/1.1\r\n{H}\r\n", 501),
    ("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    ("relative-target", f"GET foo HTTP/1.1\r\n{H}\r\n", 400),
    ("asterisk-for-get", f"GET * HTTP/1.1\r\n{H}\r\n", 400),
    ("connect", f"CONNECT a:443 HTTP/1.1\r\n{H}\r\n", 501),
    ("expect-unknown", f"POST / HTTP/1.1\r\n{H}Content-Length: 1\r\nExpect: teapot\r\n\r\nx", 417),
    ("target-too-long", f"GET /{'a' * 9000} HTTP/1.1\r\n{H}\r\n", 414),
    ("too-many-headers", f"GET / HTTP/1.1\r\n{H}" + "X-A: b\r\n" * 120 + "\r\n", 431),
    ("body-too-large", f"POST / HTTP/1.1\r\n{H}Content-Length: 99999999999\r\n\r\n", 413),
]


class Recorder(BaseHTTPRequestHandler):
    calls = []
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            self.calls.append((self.command, self.path))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_CONNECT = do_FROBNICATE = do_GET


def wsgi_app(environ, start_response):
    with Recorder.lock:
        Recorder.calls.append((environ["REQUEST_METHOD"], environ["RAW_URI"]))
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture(scope="module")
def servers():
    servers = {
        "handler-threads": HTTPServer(("127.0.0.1", 0), Recorder, threads=4),
        "handler-inline": HTTPServer(("127.0.0.1", 0), Recorder, threads=0),
        "wsgi": make_server("127.0.0.1", 0, wsgi_app, threads=4),
    }
    with serving(servers["handler-threads"]), serving(servers["handler-inline"]), serving(servers["wsgi"]):
        yield servers


def answer(address, raw: bytes):
    client = Conn(address)
    with client.sock:
        client.send(raw)
        resp = client.read_response()
        return resp, client.closed_by_peer()


@pytest.mark.parametrize("name,raw,status", CASES, ids=[c[0] for c in CASES])
def test_malformed_request_is_rejected_like_the_wsgi_path(servers, name, raw, status):
    del Recorder.calls[:]
    results = {}
    for kind, srv in servers.items():
        resp, closed = answer(srv.server_address, raw.encode("latin-1"))
        results[kind] = (resp.status, closed, resp.get("connection"))
    assert results["wsgi"] == (status, True, "close"), results
    assert results["handler-threads"] == results["wsgi"], results
    assert results["handler-inline"] == results["wsgi"], results
    assert Recorder.calls == [], "a malformed request reached the application"


def test_the_same_servers_answer_well_formed_requests(servers):
    """The control case: the corpus fails for the right reason, not because nothing works."""
    for srv in servers.values():
        resp, _ = answer(srv.server_address, f"GET /fine HTTP/1.1\r\n{H}Connection: close\r\n\r\n".encode())
        assert (resp.status, resp.body) == (200, b"ok")
