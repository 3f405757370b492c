"""The handler API fed from the parser's request: header fields as received (case, `_`, order,
repeats), no environ in between, over real sockets in every thread mode."""
import json
import threading

import pytest
import requests

from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer
from hatchway.wsgi.connection import HTTPConnection
from hatchway.wsgi.handler_connection import HandlerConnection
from support import DEADLINE, Conn, serving


class Fields(BaseHTTPRequestHandler):
    """Answers with the request's header fields, in order, and the body it read."""

    def do_GET(self):
        body = json.dumps({"items": list(self.headers.items()), "accept": self.headers.get_all("accept"),
                           "under": self.headers.get("x_under_score"), "path": self.path,
                           "version": self.request_version, "client": self.client_address[0],
                           "read": self.rfile.read().decode("latin-1")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


HEAD = (b"Host: x\r\nX-MiXeD-Case: a\r\nX_Under_Score: 1\r\nAccept: text/b\r\n"
        b"x-lower: 2\r\nAccept: text/c\r\n")
FIELDS = [["Host", "x"], ["X-MiXeD-Case", "a"], ["X_Under_Score", "1"], ["Accept", "text/b"],
          ["x-lower", "2"], ["Accept", "text/c"]]


@pytest.fixture
def fields_server(threads):
    srv = HTTPServer(("127.0.0.1", 0), Fields, threads=threads)
    with serving(srv):
        yield srv


def test_header_case_underscores_order_and_repeats_reach_the_handler(fields_server):
    assert fields_server.connection_class is HandlerConnection  # no environ on the way
    raw = Conn(fields_server.server_address)
    with raw.sock:
        for _ in range(2):  # and again on the same kept-alive connection
            raw.send(b"GET /a%20b?q=1 HTTP/1.1\r\n" + HEAD + b"\r\n")
            resp = raw.read_response()
            assert resp.status == 200, resp
            got = json.loads(resp.body)
            assert got["items"] == FIELDS
            assert got["accept"] == ["text/b", "text/c"]  # repeats kept apart, not joined
            assert got["under"] == "1"
            assert got["path"] == "/a%20b?q=1" and got["version"] == "HTTP/1.1"


def test_bodies_and_pipelining_on_the_direct_path(fields_server):
    raw = Conn(fields_server.server_address)
    with raw.sock:
        raw.send(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX_Under_Score: cl\r\n\r\nhello"
                 b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                 b"GET /g HTTP/1.0\r\nHost: x\r\n\r\n")
        first, second, third = (raw.read_response() for _ in range(3))
    one, two, three = (json.loads(r.body) for r in (first, second, third))
    assert one["read"] == "hello" and one["under"] == "cl"
    assert one["items"] == [["Host", "x"], ["Content-Length", "5"], ["X_Under_Score", "cl"]]
    assert two["read"] == "abc" and ["Transfer-Encoding", "chunked"] in two["items"]
    assert three["path"] == "/g" and three["version"] == "HTTP/1.0"
    assert third.get("connection") == "close"


@pytest.mark.parametrize("allow, client, kept", [("127.0.0.1", "203.0.113.7", True),
                                                  ("10.9.9.9", "127.0.0.1", False)])
def test_forwarded_fields_from_a_trusted_proxy_only(threads, allow, client, kept):
    srv = HTTPServer(("127.0.0.1", 0), Fields, threads=threads, forwarded_allow_ips=allow)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nX-Other: 1\r\n\r\n")
            got = json.loads(raw.read_response().body)
    assert got["client"] == client
    assert (["X-Forwarded-For", "203.0.113.7"] in got["items"]) is kept  # stripped unless trusted
    assert ["X-Other", "1"] in got["items"]


def test_a_layer_that_needs_the_environ_keeps_the_wsgi_form(threads):
    """With a health check (WSGI middleware) in front, the handler runs as a WSGI application:
    it still answers, with the gateway's CGI-derived names."""
    srv = HTTPServer(("127.0.0.1", 0), Fields, threads=threads, health_path="/healthz")
    assert srv.connection_class is HTTPConnection
    with serving(srv):
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        assert requests.get(base + "/healthz", timeout=DEADLINE).status_code == 200
        got = requests.get(base + "/x", headers={"X-MiXeD-Case": "a"}, timeout=DEADLINE).json()
        assert ["X-Mixed-Case", "a"] in got["items"]


def test_shutdown_before_serve_forever_is_remembered():
    srv = HTTPServer(("127.0.0.1", 0), Fields, threads=1)
    try:
        srv.shutdown()
        done = threading.Event()
        thread = threading.Thread(target=lambda: (srv.serve_forever(), done.set()), daemon=True)
        thread.start()
        assert done.wait(DEADLINE), "serve_forever() did not return after an earlier shutdown()"
    finally:
        srv.server_close()


def test_server_close_stops_a_loop_running_in_another_thread():
    srv = HTTPServer(("127.0.0.1", 0), Fields, threads=1)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    assert requests.get(f"http://127.0.0.1:{srv.server_port}/", timeout=DEADLINE).status_code == 200
    srv.server_close()  # shuts the loop down first, then closes the sockets
    thread.join(DEADLINE)
    assert not thread.is_alive()


def test_bind_and_activate_false_is_refused_plainly():
    with pytest.raises(ValueError, match="bind_and_activate=False"):
        HTTPServer(("127.0.0.1", 0), Fields, False)
