"""Response framing chosen by the server: Content-Length, chunked, close-delimited,
bodiless responses, Date/Server, header injection, over/under-sending apps, big bodies,
wsgi.file_wrapper (sendfile)."""
import hashlib
import logging

import pytest

from support import Closed, wait_for

TEXT = [("Content-Type", "text/plain")]


def make_app(body_parts, headers=(), status="200 OK", generator=False):
    def app(environ, start_response):
        start_response(status, list(headers))
        if generator:
            return (p for p in body_parts)
        return list(body_parts)
    return app


def probe(c, status=200):
    """The connection is still in sync: a further request gets its own response."""
    c.send(b"GET /probe HTTP/1.1\r\nHost: a\r\n\r\n")
    resp = c.read_response()
    assert resp.status == status, resp
    return resp


def test_app_content_length_is_used(serve):
    srv = serve(make_app([b"hello"], TEXT + [("Content-Length", "5")]))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.framing == "length" and resp.get("content-length") == "5" and resp.body == b"hello"
        probe(c)


def test_list_without_length_http11(serve):
    srv = serve(make_app([b"ab", b"cd"], TEXT))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.body == b"abcd"
        assert resp.framing in ("length", "chunked"), resp.framing
        probe(c)


def test_generator_without_length_is_chunked_on_http11(serve):
    srv = serve(make_app([b"ab", b"", b"cd"], TEXT, generator=True))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.framing == "chunked", resp
        assert resp.body == b"abcd"
        probe(c)


def test_generator_without_length_is_close_delimited_on_http10(serve):
    srv = serve(make_app([b"ab", b"cd"], TEXT, generator=True))
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.get("transfer-encoding") is None, "chunked must not be sent to an HTTP/1.0 client"
        assert resp.body == b"abcd"
        assert resp.framing in ("close", "length")
        c.wait_closed(timeout=8)


def test_generator_http10_keepalive_is_not_chunked(serve):
    srv = serve(make_app([b"ab", b"cd"], TEXT, generator=True))
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = c.read_response()
        assert resp.get("transfer-encoding") is None
        assert resp.body == b"abcd"
        if resp.framing == "close":
            assert not resp.has_token("connection", "keep-alive"), "close-delimited body cannot be keep-alive"
            c.wait_closed(timeout=8)


@pytest.mark.parametrize("generator", [False, True], ids=["list", "generator"])
def test_head_has_no_body_but_keeps_content_length(serve, generator):
    srv = serve(make_app([b"0123456789"], TEXT + [("Content-Length", "10")], generator=generator))
    with srv.connect() as c:
        c.request("HEAD")
        resp = c.read_response(method="HEAD")
        assert resp.status == 200 and resp.get("content-length") == "10"
        # No body bytes may follow: the next response must start right away.
        probe(c)


def test_head_with_unknown_length_has_no_body(serve):
    srv = serve(make_app([b"abc", b"def"], TEXT, generator=True))
    with srv.connect() as c:
        c.request("HEAD")
        resp = c.read_response(method="HEAD")
        assert resp.status == 200
        probe(c)


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
def test_no_body_statuses(serve, status):
    srv = serve(make_app([], [], status=status, generator=True))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.status == int(status[:3])
        assert resp.get("transfer-encoding") is None, resp
        if resp.status == 204:
            assert resp.get("content-length") is None, "RFC 9110: no Content-Length in a 204"
        probe(c, status=resp.status)


def test_date_and_server_on_every_response(serve):
    srv = serve(make_app([b"nope"], TEXT, status="404 Not Found"))
    with srv.connect() as c:
        c.request(target="/missing")
        resp = c.read_response()
        assert resp.status == 404 and resp.get("date") and resp.get("server")
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 400 and resp.get("date") and resp.get("server")


@pytest.mark.parametrize("bad", [
    ("X-Bad", "a\r\nSet-Cookie: injected=1"),
    ("X-Bad", "a\nSet-Cookie: injected=1"),
    ("X-Bad", "a\rSet-Cookie: injected=1"),
    ("X-Bad\r\nSet-Cookie", "injected=1"),
], ids=["crlf-value", "lf-value", "cr-value", "crlf-name"])
def test_header_injection_from_app_gives_500(serve, caplog, bad):
    caplog.set_level(logging.ERROR, logger="hatchway.error")
    # Not wrapped in validator: the validator would reject the header itself, and the point
    # here is what the *server* does with it.
    srv = serve(make_app([b"body"], TEXT + [bad]), validate=False)
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.status == 500, resp
        assert b"injected" not in resp.raw_head and b"injected" not in resp.body
        assert resp.get("set-cookie") is None
        # no second (split) response may follow
        try:
            probe_resp = (c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), c.read_response())[1]
            assert b"injected" not in probe_resp.raw_head
        except (Closed, BrokenPipeError, ConnectionResetError):
            pass
    wait_for(lambda: any(r.name == "hatchway.error" for r in caplog.records), 5, what="hatchway.error log record")


def test_status_line_injection_from_app_gives_500(serve, caplog):
    caplog.set_level(logging.ERROR, logger="hatchway.error")
    srv = serve(make_app([b"x"], TEXT, status="200 OK\r\nSet-Cookie: injected=1"), validate=False)
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.status == 500 and b"injected" not in resp.raw_head
    wait_for(lambda: any(r.name == "hatchway.error" for r in caplog.records), 5, what="hatchway.error log record")


def test_app_sends_more_than_content_length(serve):
    fake = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSMUGGLE"
    srv = serve(make_app([b"hello", b" world", fake], TEXT + [("Content-Length", "5")], generator=True))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.body == b"hello"
        c.wait_closed(timeout=8)  # asserts no surplus byte appears before the close


def test_app_sends_more_than_content_length_in_one_chunk(serve):
    srv = serve(make_app([b"helloHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX"], TEXT + [("Content-Length", "5")]))
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.body == b"hello"
        c.wait_closed(timeout=8)


def test_app_sends_less_than_content_length(serve):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ok":
            start_response("200 OK", TEXT + [("Content-Length", "2")])
            return [b"ok"]
        start_response("200 OK", TEXT + [("Content-Length", "100")])
        return (p for p in [b"short"])

    srv = serve(app)
    with srv.connect() as c:
        c.request()
        with pytest.raises(Closed):
            c.read_response()
    with srv.connect() as c:  # the server keeps serving
        c.request(target="/ok")
        assert c.read_response().body == b"ok"


def _blob(size, seed):
    block = hashlib.sha256(seed).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.mark.parametrize("size", [1 << 20, 20 << 20], ids=["1MiB", "20MiB"])
@pytest.mark.parametrize("how", ["list-with-length", "generator-chunked"])
def test_big_bodies_intact(serve, size, how):
    data = _blob(size, b"big")
    pieces = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    if how == "list-with-length":
        app = make_app([data], TEXT + [("Content-Length", str(size))])
    else:
        app = make_app(pieces, TEXT, generator=True)
    srv = serve(app)
    with srv.connect(timeout=30) as c:
        c.request()
        resp = c.read_response()
        assert len(resp.body) == size
        assert hashlib.sha256(resp.body).hexdigest() == hashlib.sha256(data).hexdigest()
        probe(c)


def test_big_request_body_intact(serve):
    data = _blob(20 << 20, b"upload")

    def app(environ, start_response):
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = environ["wsgi.input"].read(1 << 16)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
        out = f"{n} {h.hexdigest()}".encode()
        start_response("200 OK", TEXT + [("Content-Length", str(len(out)))])
        return [out]

    srv = serve(app)
    with srv.connect(timeout=30) as c:
        c.send(f"PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        resp = c.read_response()
        assert resp.body.decode() == f"{len(data)} {hashlib.sha256(data).hexdigest()}"


@pytest.mark.parametrize("size", [1 << 20, 20 << 20], ids=["1MiB", "20MiB"])
@pytest.mark.parametrize("validate", [True, False], ids=["validated", "raw-file-wrapper"])
def test_file_wrapper_serves_real_file(serve, tmp_path, size, validate):
    """validated: the app is wrapped in wsgiref's validator, which hides the file wrapper from the
    server (it iterates); raw-file-wrapper: the server gets its own wsgi.file_wrapper object back
    (the os.sendfile path) -- the validator cannot be used there by construction."""
    data = _blob(size, b"file")
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    opened = []

    def app(environ, start_response):
        f = open(path, "rb")
        opened.append(f)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return environ["wsgi.file_wrapper"](f, 65536)

    srv = serve(app, validate=validate)
    with srv.connect(timeout=30) as c:
        for _ in range(2):
            c.request(target="/file")
            resp = c.read_response()
            assert len(resp.body) == size
            assert hashlib.sha256(resp.body).hexdigest() == hashlib.sha256(data).hexdigest()
        c.request("HEAD", "/file")
        head = c.read_response(method="HEAD")
        assert head.get("content-length") == str(size)
        probe_resp = probe(c)
        assert len(probe_resp.body) == size
    wait_for(lambda: all(f.closed for f in opened), 5, what="file_wrapper close() closing the files")


def test_file_wrapper_without_length_http11(serve, tmp_path):
    data = _blob(300000, b"nolen")
    path = tmp_path / "nolen.bin"
    path.write_bytes(data)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    srv = serve(app, validate=False)
    with srv.connect() as c:
        c.request()
        resp = c.read_response()
        assert resp.body == data
        probe(c)
