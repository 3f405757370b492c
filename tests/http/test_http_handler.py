"""hatchway.http.server: http.server-style handlers on the engine, through real sockets."""
import json
import logging
import socket
import threading
import urllib.parse

import pytest
import requests

from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer
from support import DEADLINE, Conn, connect, serving


class JSONAPI(BaseHTTPRequestHandler):
    """A small JSON API: GET /items/<name>, POST /items (JSON body), errors via send_error."""

    items = {"apple": {"price": 3}}

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = urllib.parse.unquote(self.path.rpartition("/")[2])
        if self.path.startswith("/items/") and name in self.items:
            self.send_json(200, {"name": name, **self.items[name], "peer_port": self.client_address[1]})
        else:
            self.send_error(404, f"no item <{name}>")

    def do_POST(self):
        try:
            data = json.loads(self.rfile.read())
        except ValueError:
            self.send_error(400, "body is not JSON")
            return
        self.send_json(201, {"created": data, "content_length": self.headers.get("content-length"),
                             "transfer_encoding": self.headers.get("Transfer-Encoding"),
                             "peer_port": self.client_address[1]})


@pytest.fixture
def api():
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=4)
    with serving(srv):
        yield f"http://127.0.0.1:{srv.server_address[1]}"


def test_json_api_over_one_keep_alive_connection(api):
    with requests.Session() as s:
        r1 = s.get(api + "/items/apple")
        assert r1.status_code == 200
        assert r1.json()["price"] == 3

        r2 = s.post(api + "/items", json={"name": "pear"})
        assert r2.status_code == 201
        assert r2.json()["created"] == {"name": "pear"}
        assert r2.json()["content_length"] == str(len(b'{"name": "pear"}'))

        def chunks():
            yield b'{"name": '
            yield b'"plum"}'

        r3 = s.post(api + "/items", data=chunks())  # a generator body: requests sends it chunked
        assert r3.status_code == 201
        assert r3.json()["created"] == {"name": "plum"}
        assert r3.json()["transfer_encoding"] == "chunked"
        assert r3.json()["content_length"] is None

        r4 = s.get(api + "/items/<script>")
        assert r4.status_code == 404
        assert r4.headers["Content-Type"].startswith("text/html")
        assert "no item &lt;&lt;script&gt;&gt;" in r4.text and "<script>" not in r4.text

        r5 = s.delete(api + "/items/apple")
        assert r5.status_code == 501
        assert r5.headers["Allow"] == "GET, POST"

        r6 = s.get(api + "/items/apple")
        assert r6.status_code == 200
        # every request above travelled on one connection: the client port never changed
        ports = {r1.json()["peer_port"], r2.json()["peer_port"], r3.json()["peer_port"], r6.json()["peer_port"]}
        assert len(ports) == 1


def test_three_pipelined_requests_are_answered_in_order(api):
    port = int(api.rpartition(":")[2])
    raw = Conn(("127.0.0.1", port))
    with raw.sock:
        raw.send(b"GET /items/apple HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n{\"n\": 2}"
                 b"GET /items/none HTTP/1.1\r\nHost: x\r\n\r\n")
        first, second, third = (raw.read_response() for _ in range(3))
    assert first.status == 200 and json.loads(first.body)["name"] == "apple"
    assert second.status == 201 and json.loads(second.body)["created"] == {"n": 2}
    assert third.status == 404


class Streaming(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        for part in (b"one ", b"two ", b"three"):
            self.wfile.write(part)

    do_POST = do_GET


@pytest.fixture
def streaming():
    srv = HTTPServer(("127.0.0.1", 0), Streaming, threads=2)
    with serving(srv):
        yield srv.server_address


def test_no_content_length_is_chunked_on_http11(streaming):
    raw = Conn(streaming)
    with raw.sock:
        for _ in range(2):  # and the connection stays usable
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = raw.read_response()
            assert resp.get("transfer-encoding") == "chunked"
            assert resp.get("content-length") is None
            assert resp.body == b"one two three"


def test_no_content_length_is_close_delimited_on_http10(streaming):
    raw = Conn(streaming)
    with raw.sock:
        raw.send(b"GET / HTTP/1.0\r\n\r\n")
        resp = raw.read_response()
        assert resp.get("transfer-encoding") is None and resp.get("content-length") is None
        assert resp.get("connection") == "close"
        assert resp.body == b"one two three"
        assert raw.eof


def test_unread_body_leaves_the_connection_usable(streaming):
    raw = Conn(streaming)
    with raw.sock:
        body = b"z" * 10000
        raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        assert raw.read_response().status == 200
        raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                 b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.read_response().body == b"one two three"
        assert raw.read_response().body == b"one two three"


def test_unread_body_too_large_to_drain_closes_the_connection():
    srv = HTTPServer(("127.0.0.1", 0), Streaming, threads=2, max_drain=1000)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            # More than STREAM_AFTER arrived: the request is dispatched with its body still coming.
            raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"z" * 100_000)
            resp = raw.read_response()
            assert resp.status == 200 and resp.get("connection") == "close"
            assert resp.body == b"one two three"
            assert raw.closed_by_peer()


class Introspect(BaseHTTPRequestHandler):
    server_version = "Introspect/2.0"

    def do_GET(self):
        info = {
            "command": self.command, "path": self.path, "request_version": self.request_version,
            "requestline": self.requestline, "client_address": list(self.client_address),
            "x_custom": [self.headers.get("x-custom"), self.headers["X-CUSTOM"], self.headers.get("X-Custom")],
            "missing": self.headers.get("x-missing", "default"),
            "server_is_ours": self.server is self.server.RequestHandlerClass.expected_server,
        }
        body = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        lines = [line.decode() for line in self.rfile]  # rfile iterates the body by line, then EOF
        body = json.dumps(lines).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "1234")
        self.end_headers()


def test_request_attributes_and_case_insensitive_headers():
    srv = HTTPServer(("127.0.0.1", 0), Introspect, threads=2)
    Introspect.expected_server = srv
    with serving(srv):
        sock = connect(srv.server_address)
        raw = Conn(sock)
        with sock:
            raw.send(b"GET /a%20b/c?q=1&r=%2F HTTP/1.1\r\nHost: x\r\nX-Custom: yes\r\n\r\n")
            resp = raw.read_response()
            info = json.loads(resp.body)
            assert resp.get("server") == "Introspect/2.0 " + Introspect.sys_version
            assert info["command"] == "GET"
            assert info["path"] == "/a%20b/c?q=1&r=%2F"  # the raw target, as http.server gives it
            assert info["request_version"] == "HTTP/1.1"
            assert info["requestline"] == "GET /a%20b/c?q=1&r=%2F HTTP/1.1"
            assert info["client_address"] == ["127.0.0.1", sock.getsockname()[1]]
            assert info["x_custom"] == ["yes", "yes", "yes"]
            assert info["missing"] == "default"
            assert info["server_is_ours"] is True

            raw.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"7\r\nline 1\n\r\n9\r\nline 2\nta\r\n3\r\nil!\r\n0\r\n\r\n")
            assert json.loads(raw.read_response().body) == ["line 1\n", "line 2\n", "tail!"]

            raw.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            head = raw.read_response("HEAD")
            assert head.status == 200 and head.get("content-length") == "1234" and head.body == b""
            raw.send(b"GET /after-head HTTP/1.1\r\nHost: x\r\n\r\n")
            assert json.loads(raw.read_response().body)["path"] == "/after-head"


def test_head_without_do_head_is_501_with_allow():
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"HEAD /items/apple HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = raw.read_response("HEAD")
            assert resp.status == 501 and resp.get("allow") == "GET, POST"
            raw.send(b"PUT /items/apple HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET /items/apple HTTP/1.1\r\nHost: x\r\n\r\n")
            put = raw.read_response()
            assert put.status == 501 and b"Unsupported method (&#x27;PUT&#x27;)" not in put.body
            assert b"Unsupported method ('PUT')" in put.body
            assert raw.read_response().status == 200


def test_expect_100_continue():
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n")
            assert raw.read_interim()[0] == 100
            raw.send(b'{"a":1}')
            resp = raw.read_response()
            assert resp.status == 201 and json.loads(resp.body)["created"] == {"a": 1}


class Misbehaving(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/raise":
            raise RuntimeError("handler bug")
        if self.path == "/nothing":
            return
        if self.path == "/no-end-headers":
            self.send_response(200)
            return
        if self.path == "/te":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            return
        if self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            return
        if self.path == "/write-early":
            self.wfile.write(b"oops")
            return
        if self.path == "/close":
            self.close_connection = True
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(body)


@pytest.mark.parametrize("path", ["/raise", "/nothing", "/no-end-headers", "/te", "/short", "/write-early"])
def test_handler_mistakes_give_500_and_the_server_carries_on(path, caplog):
    srv = HTTPServer(("127.0.0.1", 0), Misbehaving, threads=1)
    with serving(srv), caplog.at_level(logging.ERROR, logger="hatchway.error"):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
            resp = raw.read_response()
            assert resp.status == 500
            assert raw.closed_by_peer()
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"GET /fine HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.read_response().body == b"ok"
    assert any(r.name == "hatchway.error" for r in caplog.records)


def test_close_connection_attribute_closes_after_the_response():
    srv = HTTPServer(("127.0.0.1", 0), Misbehaving, threads=1)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = raw.read_response()
            assert resp.status == 200 and resp.get("connection") == "close" and resp.body == b"ok"
            assert raw.closed_by_peer()


def test_log_message_goes_through_logging(caplog):
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
    with serving(srv), caplog.at_level(logging.INFO, logger="hatchway.access"):
        with requests.Session() as s:
            s.get(f"http://127.0.0.1:{srv.server_address[1]}/items/apple")
            s.get(f"http://127.0.0.1:{srv.server_address[1]}/items/%0aforged")
    messages = [r.getMessage() for r in caplog.records if r.name == "hatchway.access"]
    assert any('"GET /items/apple HTTP/1.1" 200 -' in m for m in messages), messages
    assert any("code 404, message no item <\\x0aforged>" in m for m in messages), messages
    assert all(m.startswith("127.0.0.1 - - [") for m in messages)


def test_buffered_wfile_gets_a_content_length():
    class Buffered(Streaming):
        wbufsize = 1 << 16

    srv = HTTPServer(("127.0.0.1", 0), Buffered, threads=1)
    with serving(srv):
        raw = Conn(srv.server_address)
        with raw.sock:
            raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = raw.read_response()
            assert resp.get("content-length") == "13" and resp.get("transfer-encoding") is None
            assert resp.body == b"one two three"


@pytest.mark.slow
def test_inline_mode_ipv6_and_unix_socket(tmp_path):
    v6 = HTTPServer(("::1", 0), JSONAPI, threads=0)
    with serving(v6):
        r = requests.get(f"http://[::1]:{v6.server_address[1]}/items/apple", timeout=DEADLINE)
        assert r.status_code == 200 and r.json()["name"] == "apple"
    path = str(tmp_path / "api.sock")
    unix = HTTPServer(path, JSONAPI, threads=2)
    with serving(unix):
        raw = Conn(path)
        with raw.sock:
            raw.send(b"GET /items/apple HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = raw.read_response()
            assert resp.status == 200 and json.loads(resp.body)["name"] == "apple"


def test_shutdown_before_serve_forever_starts_is_not_lost():
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
    srv.shutdown()
    thread = threading.Thread(target=srv.serve_forever)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    srv.server_close()


@pytest.mark.slow
def test_shutdown_right_after_starting_the_serving_thread():
    for _ in range(20):
        srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
        thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
        thread.start()
        srv.shutdown()
        thread.join(DEADLINE)
        assert not thread.is_alive()
        srv.server_close()


def test_stdlib_handler_classes_are_refused_with_a_porting_hint():
    import http.server

    class Old(http.server.BaseHTTPRequestHandler):
        pass

    with pytest.raises(TypeError, match="hatchway.http.server.BaseHTTPRequestHandler"):
        HTTPServer(("127.0.0.1", 0), Old)


def test_server_address_and_context_manager():
    with HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1) as srv:
        host, port = srv.server_address
        assert host == "127.0.0.1" and port > 0
        assert (srv.server_name, srv.server_port) == (host, port)
        assert srv.socket.getsockname() == (host, port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=DEADLINE)


@pytest.mark.slow
def test_server_close_while_serving_in_another_thread_stops_it_first():
    srv = HTTPServer(("127.0.0.1", 0), JSONAPI, threads=1)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
    thread.start()
    r = requests.get(f"http://127.0.0.1:{srv.server_address[1]}/items/apple", timeout=DEADLINE)
    assert r.status_code == 200
    srv.server_close()
    thread.join(DEADLINE)
    assert not thread.is_alive()
