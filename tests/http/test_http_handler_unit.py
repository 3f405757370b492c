"""hatchway.http.request_handler.RequestHandler on its own: it does no I/O, so an in-memory exchange
(the documented interface a server supplies) drives it directly."""
import io
import logging

import pytest

from hatchway.http import RequestHandler
from hatchway.http.request_handler import make_headers


class MemoryExchange:
    def __init__(self, command, path="/", headers=(), body=b""):
        self.command = command
        self.path = path
        self.request_version = "HTTP/1.1"
        self.headers = make_headers(headers)
        self.rfile = io.BytesIO(body)
        self.wfile = io.BytesIO()
        self.heads = []

    def start(self, status, headers):
        self.heads.append((status, list(headers)))


def run(handler_class, command, **kw):
    ex = MemoryExchange(command, **kw)
    handler_class(ex, ("10.0.0.1", 5555), server=None)
    return ex


class Base(RequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"hi")


class Derived(Base):
    def do_PUT(self):
        pass

    do_PATCH = None  # not callable: not a method the class implements


def test_dispatch_and_head_collection():
    ex = run(Base, "GET")
    assert ex.heads == [("200 OK", [("Content-Type", "text/plain")])]
    assert ex.wfile.getvalue() == b"hi"


def test_missing_method_is_501_with_allow_listing_inherited_methods():
    ex = run(Derived, "DELETE")
    (status, headers), = ex.heads
    assert status == "501 Unsupported method ('DELETE')"  # as http.server words it
    assert ("Allow", "GET, PUT") in headers
    assert b"Unsupported method (&#x27;DELETE&#x27;)" not in ex.wfile.getvalue()
    assert b"Unsupported method ('DELETE')" in ex.wfile.getvalue()


def test_send_error_escapes_and_keeps_the_status_line_safe():
    class Errors(RequestHandler):
        def do_GET(self):
            self.send_error(400, "bad <b>&\u20ac</b>", "explained <i>")

    ex = run(Errors, "GET")
    (status, headers), = ex.heads
    assert status == "400 Bad Request"  # the message is not printable ASCII: standard phrase
    body = ex.wfile.getvalue().decode()
    assert "bad &lt;b&gt;&amp;\u20ac&lt;/b&gt;" in body and "explained &lt;i&gt;" in body
    assert ("Content-Length", str(len(ex.wfile.getvalue()))) in headers

    class Plain(RequestHandler):
        def do_GET(self):
            self.send_error(409, "version mismatch")

    assert run(Plain, "GET").heads[0][0] == "409 version mismatch"


def test_send_error_without_body_for_head_and_204():
    class Errors(RequestHandler):
        def do_HEAD(self):
            self.send_error(404)

        def do_GET(self):
            self.send_error(204)

    head = run(Errors, "HEAD")
    assert head.wfile.getvalue() == b"" and any(n == "Content-Length" for n, _ in head.heads[0][1])
    nocontent = run(Errors, "GET")
    assert nocontent.wfile.getvalue() == b"" and nocontent.heads[0][1] == []


def test_head_misuse_raises():
    class Misuse(RequestHandler):
        def do_GET(self):
            self.result = []
            for step in (lambda: self.send_header("X", "1"), lambda: self.end_headers()):
                with pytest.raises(RuntimeError):
                    step()
            self.send_response(200)
            with pytest.raises(ValueError, match="Transfer-Encoding"):
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for step in (lambda: self.end_headers(), lambda: self.send_header("X", "1"),
                         lambda: self.send_response(500)):
                with pytest.raises(RuntimeError):
                    step()

    ex = run(Misuse, "GET")
    assert ex.heads == [("200 OK", [])]


def test_connection_header_only_asks_for_close():
    class Closing(RequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Connection", "keep-alive")
            self.send_header("connection", "close")
            self.end_headers()

    ex = run(Closing, "GET")
    assert ex.heads == [("200 OK", [("Connection", "close")])]


def test_headers_are_case_insensitive_and_rfile_is_the_body():
    class Echo(RequestHandler):
        def do_POST(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(self.headers["x-token"].encode() + b":" + self.rfile.read())

    ex = run(Echo, "POST", headers=[("X-Token", "t0k")], body=b"payload")
    assert ex.wfile.getvalue() == b"t0k:payload"


def test_log_lines_escape_control_characters(caplog):
    class Logged(RequestHandler):
        def do_GET(self):
            self.log_message("user said %s", "hi\r\nFAKE 200 line\x1b[31m")
            self.send_response(200)
            self.end_headers()

    with caplog.at_level(logging.INFO, logger="hatchway.access"):
        run(Logged, "GET", path="/x")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("10.0.0.1 - - [")
    assert lines[0].endswith("user said hi\\x0d\\x0aFAKE 200 line\\x1b[31m")
    assert lines[1].endswith('"GET /x HTTP/1.1" 200 -')
