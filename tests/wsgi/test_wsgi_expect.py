"""Expect: 100-continue."""
import threading

from support import Recorder

TEXT = [("Content-Type", "text/plain")]


def test_100_continue_sent_when_app_reads(serve):
    about_to_read = threading.Event()

    def app(environ, start_response):
        about_to_read.set()
        body = b""
        while True:
            chunk = environ["wsgi.input"].read(4096)
            if not chunk:
                break
            body += chunk
        start_response("200 OK", TEXT + [("Content-Length", str(len(body)))])
        return [body]

    srv = serve(app)
    with srv.connect() as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
        status, _ = c.read_interim()
        assert status == 100
        if srv.threads:
            assert about_to_read.is_set(), "100 Continue was sent before the app read wsgi.input"
        else:
            # Inline (--threads 0) nothing may block the loop on a body: the loop says 100 at
            # once and the app is called when the body is in (docs/architecture.md).
            assert not about_to_read.is_set(), "inline: the app ran before its body was there"
        assert c.buf == b"", "nothing may follow the 100 before the body is sent"
        c.send(b"hello world")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"hello world"
        assert not resp.interim, "only one 100 Continue"
        c.request(target="/again", headers=(("Host", "a"), ("Content-Length", "2")), body=b"ok")
        assert c.read_response().body == b"ok"


def test_100_continue_chunked_upload(serve):
    srv = serve(Recorder())
    with srv.connect() as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        assert c.read_interim()[0] == 100
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        assert c.read_response().json["body"] == "abc"


def test_app_that_never_reads_gets_no_100_and_connection_closes(serve):
    def app(environ, start_response):
        start_response("403 Forbidden", TEXT + [("Content-Length", "6")])
        return [b"denied"]

    srv = serve(app)
    with srv.connect() as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        if not srv.threads:
            # Inline: the loop answers 100 itself and calls the app once the body is in.
            assert c.read_interim()[0] == 100
            c.send(b"x" * 100000)
            resp = c.read_response()
            assert resp.status == 403 and resp.body == b"denied"
            return
        resp = c.read_response()
        assert resp.status == 403 and resp.body == b"denied"
        assert resp.interim == [], "no 100 Continue for an app that never read the body"
        c.wait_closed(timeout=8)


def test_expect_over_max_body_size_gets_413_without_100(serve):
    called = []

    def app(environ, start_response):
        called.append(1)
        start_response("200 OK", TEXT)
        return [b""]

    srv = serve(app, max_body_size=1000)
    with srv.connect() as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 413 and resp.interim == []
        c.wait_closed(timeout=8)
    assert called == []
