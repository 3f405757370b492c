"""Connection management: keep-alive, HTTP/1.0, pipelining (strict order, none lost)."""
import json
import random

from support import Recorder


def test_http11_keepalive_reuses_connection(serve):
    rec = Recorder()
    srv = serve(rec)
    with srv.connect() as c:
        ports = set()
        for i in range(5):
            c.request(target=f"/k{i}")
            resp = c.read_response()
            assert resp.status == 200
            assert not resp.has_token("connection", "close"), resp
            assert resp.json["path"] == f"/k{i}"
            ports.add(resp.json["remote_port"])
        assert ports == {str(c.local_port)}


def test_http10_closes_without_keepalive(serve):
    srv = serve(Recorder())
    with srv.connect() as c:
        c.send(b"GET /x HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200 and resp.json["path"] == "/x"
        c.wait_closed(timeout=8)


def test_http10_keepalive_honoured(serve):
    srv = serve(Recorder())
    with srv.connect() as c:
        for i in range(3):
            c.send(f"GET /a{i} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            resp = c.read_response()
            assert resp.status == 200 and resp.json["path"] == f"/a{i}"
            assert resp.has_token("connection", "keep-alive"), resp
        c.send(b"GET /last HTTP/1.0\r\n\r\n")
        assert c.read_response().json["path"] == "/last"
        c.wait_closed(timeout=8)


def _mixed_pipeline(n, seed=1):
    rnd = random.Random(seed)
    raw = b""
    expected = []
    for i in range(n):
        kind = rnd.choice(["GET", "POST", "HEAD", "POSTC"])
        if kind == "GET":
            raw += f"GET /g{i}?i={i} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
            expected.append(("GET", f"/g{i}", ""))
        elif kind == "HEAD":
            raw += f"HEAD /h{i} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
            expected.append(("HEAD", f"/h{i}", ""))
        elif kind == "POST":
            body = (f"body-{i}-" + "x" * rnd.randrange(0, 3000)).encode()
            raw += f"POST /p{i} HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            expected.append(("POST", f"/p{i}", body.decode()))
        else:
            body = (f"chunked-{i}-" + "y" * rnd.randrange(1, 2000)).encode()
            half = len(body) // 2
            raw += (f"POST /c{i} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    f"{half:x};ext=1\r\n").encode() + body[:half] + f"\r\n{len(body) - half:x}\r\n".encode() + body[half:] + b"\r\n0\r\n\r\n"
            expected.append(("POST", f"/c{i}", body.decode()))
    return raw, expected


def _check_pipeline(c, expected):
    for i, (method, path, body) in enumerate(expected):
        resp = c.read_response(method=method)
        assert resp.status == 200, (i, resp)
        assert resp.get("x-echo-method") == method, (i, resp)
        if method != "HEAD":
            assert resp.json["path"] == path, f"response #{i} out of order: {resp.json['path']} != {path}"
            assert resp.json["body"] == body, f"response #{i} body mismatch"


def test_pipelining_200_mixed_requests_in_one_send(serve):
    rec = Recorder()
    srv = serve(rec)
    raw, expected = _mixed_pipeline(200)
    with srv.connect(timeout=20) as c:
        c.send(raw)
        _check_pipeline(c, expected)
        c.request(target="/after")
        assert c.read_response().json["path"] == "/after"
    seen = [(r["method"], r["path"], r["body"]) for r in rec.seen]
    assert seen == expected + [("GET", "/after", "")]


def test_pipelining_split_at_every_byte_offset_pattern(serve):
    """The same pipeline delivered in small odd-sized pieces still parses identically."""
    rec = Recorder()
    srv = serve(rec)
    raw, expected = _mixed_pipeline(40, seed=7)
    with srv.connect(timeout=20) as c:
        c.sock.setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)
        pos = 0
        sizes = [1, 2, 3, 5, 7, 11, 13, 64, 1000]
        k = 0
        while pos < len(raw):
            step = sizes[k % len(sizes)]
            c.send(raw[pos:pos + step])
            pos += step
            k += 1
        _check_pipeline(c, expected)
    assert [(r["method"], r["path"], r["body"]) for r in rec.seen] == expected


def test_pipelined_requests_before_rejection_are_answered(serve):
    rec = Recorder()
    srv = serve(rec)
    with srv.connect() as c:
        c.send(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
               b"GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().json["path"] == "/1"
        assert c.read_response().json["body"] == "hi"
        bad = c.read_response()
        assert bad.status == 400 and bad.has_token("connection", "close")
        c.wait_closed(timeout=8)
    assert [r["path"] for r in rec.seen] == ["/1", "/2"]


def test_many_connections_interleaved(serve):
    rec = Recorder()
    srv = serve(rec)
    conns = [srv.connect() for _ in range(20)]
    try:
        for round_ in range(3):
            for i, c in enumerate(conns):
                c.request(target=f"/c{i}/r{round_}")
            for i, c in enumerate(conns):
                resp = c.read_response()
                assert json.loads(resp.body)["path"] == f"/c{i}/r{round_}"
    finally:
        for c in conns:
            c.close()
