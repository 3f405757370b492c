"""PEP 3333 gateway behaviour: environ, wsgi.input, write(), exc_info, close(), app errors."""
import json
import logging
import sys
import threading

import pytest

from support import Closed, Rejection, wait_for

TEXT = [("Content-Type", "text/plain")]
REQUIRED = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
            "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "wsgi.version", "wsgi.url_scheme", "wsgi.input",
            "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once", "REMOTE_ADDR", "REMOTE_PORT"]


def environ_app(store):
    def app(environ, start_response):
        store.append(dict(environ))
        body = environ["wsgi.input"].read(1 << 20)
        start_response("200 OK", TEXT + [("Content-Length", str(len(body)))])
        return [body]
    return app


def test_environ_required_keys_and_values(serve, threads):
    seen = []
    srv = serve(environ_app(seen))
    with srv.connect() as c:
        c.send(b"POST /p/q?x=1&y=%20 HTTP/1.1\r\nHost: example.org:1234\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 4\r\nX-Custom: yes\r\n\r\nbody")
        assert c.read_response().body == b"body"
        port = c.local_port
    env = seen[0]
    missing = [k for k in REQUIRED if k not in env]
    assert not missing, f"missing environ keys: {missing}"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/p/q"
    assert env["QUERY_STRING"] == "x=1&y=%20"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "4"
    assert env["SERVER_NAME"]
    assert env["SERVER_PORT"] == str(srv.port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is (threads > 0)
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(port)
    assert env["HTTP_HOST"] == "example.org:1234"
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["RAW_URI"] == "/p/q?x=1&y=%20"
    assert env["REQUEST_URI"] == "/p/q?x=1&y=%20"
    for k, v in env.items():
        if "." not in k:
            assert type(v) is str, (k, v)


def test_environ_http10_protocol(serve):
    seen = []
    srv = serve(environ_app(seen))
    with srv.connect() as c:
        c.send(b"GET /x HTTP/1.0\r\n\r\n")
        c.read_response()
    assert seen[0]["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert seen[0]["SERVER_NAME"]  # from the server's own address when there is no Host


@pytest.mark.parametrize("target,path,raw", [
    ("/caf%C3%A9", "/caf\xc3\xa9", "/caf%C3%A9"),
    ("/a%252Fb", "/a%2Fb", "/a%252Fb"),
    ("/a%2Fb/c%20d", "/a/b/c d", "/a%2Fb/c%20d"),
])
def test_path_info_decoded_once_latin1(serve, target, path, raw):
    seen = []
    srv = serve(environ_app(seen))
    with srv.connect() as c:
        c.request(target=target + "?q=%41")
        c.read_response()
    assert seen[0]["PATH_INFO"] == path
    assert seen[0]["QUERY_STRING"] == "q=%41"
    assert seen[0]["RAW_URI"] == raw + "?q=%41"
    assert seen[0]["REQUEST_URI"] == raw + "?q=%41"


def test_underscore_headers_never_reach_environ(serve):
    seen = []
    srv = serve(environ_app(seen))
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Auth-User: real\r\nX_Auth_User: spoofed\r\nX_Only_Underscore: 1\r\n\r\n")
        c.read_response()
    env = seen[0]
    assert env["HTTP_X_AUTH_USER"] == "real"
    assert "HTTP_X_ONLY_UNDERSCORE" not in env
    assert not any("spoofed" in str(v) for v in env.values())


# --- wsgi.input ---------------------------------------------------------------

def input_app(script):
    """Runs a read script on wsgi.input and returns JSON of each call's result."""
    def app(environ, start_response):
        stream = environ["wsgi.input"]
        out = []
        if environ["PATH_INFO"] == "/next":
            script_ = [("read", 100), ("read", 100)]
        else:
            script_ = script
        for op in script_:
            name, *args = op
            if name == "read_all":
                # wsgiref's validator allows read() only with a size; read() with no argument
                # is a required PEP 3333 call, so it goes to the server's own stream underneath.
                out.append(stream.input.read())
            elif name == "iter":
                out.append(list(stream))
            elif name == "readlines":
                out.append(stream.readlines(*args))
            else:
                out.append(getattr(stream, name)(*args))
        payload = json.dumps([[x.decode("latin-1") for x in r] if isinstance(r, list) else r.decode("latin-1") for r in out]).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]
    return app


BODY = b"line1\nline2\r\nlast-no-newline"
SCRIPTS = {
    "read-all": ([("read_all",), ("read", 10), ("read_all",)], [BODY.decode(), "", ""]),
    "read-n": ([("read", 3), ("read", 4), ("read", 1000), ("read", 5)], ["lin", "e1\nl", "ine2\r\nlast-no-newline", ""]),
    "readline": ([("readline",), ("readline",), ("readline",), ("readline",)], ["line1\n", "line2\r\n", "last-no-newline", ""]),
    "readline-n": ([("readline", 3), ("readline", 10), ("readline", 100), ("readline", 4)], ["lin", "e1\n", "line2\r\n", "last"]),
    "readlines": ([("readlines",), ("readline",)], [["line1\n", "line2\r\n", "last-no-newline"], ""]),
    "iterate": ([("iter",), ("read", 1)], [["line1\n", "line2\r\n", "last-no-newline"], ""]),
    "read-past-end": ([("read", 1 << 20), ("read", 1 << 20), ("readline",)], [BODY.decode(), "", ""]),
}


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_wsgi_input_methods_do_not_block_past_body(serve, script, framing):
    ops, expected = SCRIPTS[script]
    srv = serve(input_app(ops))
    if framing == "content-length":
        req = f"POST /in HTTP/1.1\r\nHost: a\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY
    else:
        req = (b"POST /in HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"7\r\n" + BODY[:7] + b"\r\n" + f"{len(BODY) - 7:x}".encode() + b"\r\n" + BODY[7:] + b"\r\n0\r\n\r\n")
    nxt = b"POST /next HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nNEXT!"
    with srv.connect() as c:
        c.send(req + nxt)  # keep-alive: the next request follows immediately
        assert c.read_response().json == expected
        assert c.read_response().json == ["NEXT!", ""]


def test_wsgi_input_read_waits_for_body_sent_later(serve):
    """read(n) waits for bytes that are still in flight (the body arrives after the head)."""
    def app(environ, start_response):
        got = b""
        while True:
            chunk = environ["wsgi.input"].read(3)
            if not chunk:
                break
            got += chunk
        start_response("200 OK", TEXT + [("Content-Length", str(len(got)))])
        return [got]

    srv = serve(app)
    with srv.connect() as c:
        c.sock.setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n")
        c.send(b"01234")
        c.send(b"56789")
        assert c.read_response().body == b"0123456789"


# --- write(), exc_info, close() -------------------------------------------------

def test_write_callable(serve):
    def app(environ, start_response):
        write = start_response("200 OK", TEXT)
        write(b"part1-")
        write(b"part2-")
        return [b"part3"]

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        assert c.read_response().body == b"part1-part2-part3"
        c.request()
        assert c.read_response().body == b"part1-part2-part3"


def test_start_response_with_exc_info_before_headers_sent(serve):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("503 Service Unavailable", TEXT + [("X-Replaced", "1")], sys.exc_info())
        return [b"replaced"]

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.status == 503 and resp.get("x-replaced") == "1" and resp.body == b"replaced"


def test_start_response_twice_without_exc_info_is_an_error(serve, caplog):
    caplog.set_level(logging.ERROR, logger="hatchway.error")

    def app(environ, start_response):
        start_response("200 OK", TEXT)
        start_response("201 Created", TEXT)
        return [b"x"]

    srv = serve(app, validate=False)  # the misuse itself is the subject
    with srv.connect() as c:
        c.request()
        assert c.read_response().status == 500


def test_exc_info_after_headers_sent_aborts(serve):
    def app(environ, start_response):
        start_response("200 OK", TEXT)
        yield b"first-part"
        try:
            raise RuntimeError("boom after headers")
        except RuntimeError:
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        yield b"never"

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        with pytest.raises((Closed, Rejection)):
            c.read_response()


class Closing:
    """App iterable that records close()."""

    def __init__(self, parts, fail_at=None):
        self.parts = parts
        self.fail_at = fail_at
        self.closed = threading.Event()

    def __iter__(self):
        for i, p in enumerate(self.parts):
            if i == self.fail_at:
                raise RuntimeError("iterable failed")
            yield p

    def close(self):
        self.closed.set()


@pytest.mark.parametrize("scenario", ["normal", "head", "error-mid-body", "http10"])
def test_close_always_called(serve, scenario):
    made = []

    def app(environ, start_response):
        it = Closing([b"a", b"b", b"c"], fail_at=1 if scenario == "error-mid-body" else None)
        made.append(it)
        start_response("200 OK", TEXT)
        return it

    srv = serve(app)
    with srv.connect() as c:
        if scenario == "head":
            c.request("HEAD")
            c.read_response(method="HEAD")
        elif scenario == "http10":
            c.send(b"GET / HTTP/1.0\r\n\r\n")
            assert c.read_response().body == b"abc"
        elif scenario == "normal":
            c.request()
            assert c.read_response().body == b"abc"
        else:
            c.request()
            with pytest.raises((Closed, Rejection)):
                c.read_response()
    wait_for(lambda: made and made[0].closed.is_set(), 5, what="close() on the app iterable")


def test_close_called_when_client_disconnects_mid_response(serve):
    made = []

    class Endless(Closing):
        def __iter__(self):
            for _ in range(100000):
                yield b"x" * 65536

    def app(environ, start_response):
        it = Endless([])
        made.append(it)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return it

    srv = serve(app)
    c = srv.connect()
    c.request()
    c.read_exact(100000, deadline=__import__("time").monotonic() + 10)
    c.close()
    wait_for(lambda: made and made[0].closed.is_set(), 10, what="close() after client disconnect")
    with srv.connect() as c2:  # server still serving
        made.clear()
        c2.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c2.read_response(method="HEAD").status == 200


# --- application errors -----------------------------------------------------------

def test_app_exception_before_headers_is_generic_500(serve, caplog):
    caplog.set_level(logging.ERROR, logger="hatchway.error")

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", TEXT)
            return [b"ok"]
        raise KeyError("secret-detail-42")

    srv = serve(app)
    with srv.connect() as c:
        c.request(target="/boom")
        resp = c.read_response()
        assert resp.status == 500
        assert b"secret-detail-42" not in resp.body and b"Traceback" not in resp.body and b"KeyError" not in resp.body
        if not resp.has_token("connection", "close"):
            c.request(target="/ok")
            assert c.read_response().body == b"ok"

    def logged():
        return [r for r in caplog.records if r.name == "hatchway.error" and r.exc_info and "secret-detail-42" in repr(r.exc_info[1])]

    wait_for(logged, 5, what="traceback of the app error in hatchway.error")


def test_app_exception_in_iterable_before_first_chunk(serve, caplog):
    caplog.set_level(logging.ERROR, logger="hatchway.error")

    def app(environ, start_response):
        start_response("200 OK", TEXT)
        raise ValueError("secret-in-generator")
        yield b"never"

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.status == 500 and b"secret-in-generator" not in resp.body


def test_app_exception_after_headers_sent_aborts_connection(serve, caplog):
    caplog.set_level(logging.ERROR, logger="hatchway.error")

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", TEXT)
            return [b"ok"]

        def gen():
            yield b"x" * 100000
            raise RuntimeError("secret-after-headers")

        start_response("200 OK", TEXT)
        return gen()

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        with pytest.raises((Closed, Rejection)):
            c.read_response()
    with srv.connect() as c:
        c.request(target="/ok")
        assert c.read_response().body == b"ok"
    wait_for(lambda: any(r.name == "hatchway.error" for r in caplog.records), 5, what="error log line")


def test_app_exception_after_headers_with_content_length(serve):
    def app(environ, start_response):
        def gen():
            yield b"12345"
            raise RuntimeError("boom")
        start_response("200 OK", TEXT + [("Content-Length", "10")])
        return gen()

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        with pytest.raises(Closed):
            c.read_response()


def test_access_log_line(serve, caplog):
    caplog.set_level(logging.INFO, logger="hatchway.access")

    def app(environ, start_response):
        start_response("201 Created", TEXT + [("Content-Length", "7")])
        return [b"created"]

    srv = serve(app)  # caplog set hatchway.access to INFO: that alone turns the access log on
    with srv.connect() as c:
        c.send(b"GET /logme?x=1 HTTP/1.1\r\nHost: a\r\nReferer: http://r.example/\r\nUser-Agent: corpus-agent/1\r\n\r\n")
        c.read_response()

    def line():
        for r in caplog.records:
            if r.name == "hatchway.access":
                msg = r.getMessage()
                if "/logme?x=1" in msg:
                    return msg
        return None

    msg = wait_for(line, 5, what="access log line")
    assert msg.startswith("127.0.0.1 ")
    assert '"GET /logme?x=1 HTTP/1.1" 201 7' in msg
    assert '"http://r.example/"' in msg and '"corpus-agent/1"' in msg
