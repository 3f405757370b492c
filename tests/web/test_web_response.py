import datetime
import json

import pytest

from hatchway.web import App, HeaderValueError, Headers, Response, abort, redirect, request


def test_status_int_and_str():
    assert Response("x", 201).status == "201 Created"
    r = Response("x", "418 I'm a teapot")
    assert (r.status_code, r.status) == (418, "418 I'm a teapot")
    r = Response("x", "299 Custom Thing")
    assert (r.status_code, r.status) == (299, "299 Custom Thing")
    assert Response("x", "404").status == "404 Not Found"
    r.status = 500
    assert r.status == "500 Internal Server Error"
    r.status_code = 204
    assert r.status == "204 No Content"
    for bad in ("abc", "99 Low", "200 OK\r\nX: y", 600):
        with pytest.raises(ValueError):
            Response("x", bad)


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\rb", "a\x00b"])
def test_header_values_with_crlf_raise_at_set_time(value):
    resp = Response("x")
    with pytest.raises(HeaderValueError):
        resp.headers["X"] = value
    with pytest.raises(HeaderValueError):
        resp.headers.add("X", value)
    with pytest.raises(HeaderValueError):
        Response("x", headers={"X": value})
    with pytest.raises(HeaderValueError):
        Headers([("X", value)])
    assert "X" not in resp.headers


def test_header_names_and_non_latin1_values_rejected():
    h = Headers()
    for name in ("Bad Name", "X:Y", "", "Ä"):
        with pytest.raises(HeaderValueError):
            h[name] = "v"
    with pytest.raises(HeaderValueError):
        h["X"] = "snow ☃"
    h["X-Num"] = 5
    assert h["x-num"] == "5"


def test_headers_case_insensitive_multi():
    h = Headers()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    h["X-A"] = "1"
    h["x-a"] = "2"
    assert h.getlist("SET-COOKIE") == ["a=1", "b=2"]
    assert h.getlist("X-A") == ["2"]
    assert "x-A" in h
    del h["set-cookie"]
    assert "Set-Cookie" not in h
    with pytest.raises(KeyError):
        h["missing"]


def test_mimetype_content_type_charset():
    r = Response("x", mimetype="text/plain")
    assert r.content_type == "text/plain; charset=utf-8"
    assert r.mimetype == "text/plain"
    assert r.mimetype_params == {"charset": "utf-8"}
    r.mimetype = "application/xml"
    assert r.headers["Content-Type"] == "application/xml; charset=utf-8"
    r.content_type = "image/png"
    assert r.mimetype == "image/png" and r.headers["content-type"] == "image/png"
    r = Response(b"\x89PNG", content_type="image/png")
    assert r.content_type == "image/png"
    assert Response("x").content_type == "text/html; charset=utf-8"
    # Touching headers first, then the content type: one header, not two.
    r = Response("x")
    r.headers["X-A"] = "1"
    r.mimetype = "text/csv"
    assert r.headers.getlist("Content-Type") == ["text/csv; charset=utf-8"]


def test_response_json_constructor():
    r = Response.json({"a": [1, "é"]}, status=201, headers={"X-A": "1"})
    assert r.status_code == 201
    assert r.mimetype == "application/json"
    assert json.loads(r.data) == {"a": [1, "é"]}
    assert r.headers["X-A"] == "1"
    with pytest.raises(ValueError):
        Response.json(float("nan"))


def cookie_app():
    app = App(__name__)

    @app.get("/set")
    def set_():
        r = Response("ok")
        r.set_cookie(
            "full", "v a;l", max_age=60, path="/p", domain="example.test", secure=True,
            httponly=True, samesite="Strict", partitioned=True,
        )
        r.set_cookie("plain", "1")
        r.set_cookie("exp", "2", expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
        return r

    @app.get("/del")
    def del_():
        r = Response("ok")
        r.delete_cookie("plain")
        return r

    @app.get("/read")
    def read():
        return request.cookies

    return app


def test_set_cookie_every_attribute():
    c = cookie_app().test_client()
    r = c.get("/set")
    cookies = r.headers.getlist("Set-Cookie")
    full = cookies[0]
    parts = full.split("; ")
    assert parts[0] == 'full="v a\\073l"'
    assert "Domain=example.test" in parts and "Max-Age=60" in parts and "Path=/p" in parts
    assert "Secure" in parts and "HttpOnly" in parts and "SameSite=Strict" in parts
    assert "Partitioned" in parts
    assert any(p.startswith("Expires=") and p.endswith(" GMT") for p in parts)
    assert cookies[1] == "plain=1; Path=/"
    assert cookies[2] == "exp=2; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Path=/"


def test_cookie_round_trip_and_delete():
    c = cookie_app().test_client()
    c.get("/set")
    assert c.get("/read").get_json() == {"plain": "1", "exp": "2"}
    r = c.get("/del")
    assert r.headers["Set-Cookie"].startswith("plain=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/")
    assert c.get("/read").get_json() == {"exp": "2"}


def test_cookie_validation():
    r = Response()
    with pytest.raises(ValueError, match="secure"):
        r.set_cookie("a", "1", samesite="None")
    r.set_cookie("a", "1", samesite="none", secure=True)
    assert r.headers["Set-Cookie"].endswith("SameSite=None")
    with pytest.raises(ValueError):
        r.set_cookie("a", "1", samesite="sometimes")
    with pytest.raises(ValueError):
        r.set_cookie("bad name", "1")
    with pytest.raises(ValueError):
        r.set_cookie("a", "1", path="/x;Domain=evil")
    r2 = Response()
    r2.set_cookie("p", "1", partitioned=True)
    assert "Secure" in r2.headers["Set-Cookie"].split("; ")


def test_streaming_from_generator_and_close():
    app = App(__name__)
    closed = []

    @app.get("/stream")
    def stream():
        def gen():
            try:
                yield "a"
                yield b"b"
                yield request.path  # the request is still current while streaming
            finally:
                closed.append(True)

        return gen()

    @app.get("/stream-resp")
    def stream_resp():
        return Response((str(i) for i in range(3)), mimetype="text/plain")

    c = app.test_client()
    r = c.get("/stream")
    assert r.data == b"ab/stream"
    assert "Content-Length" not in r.headers
    assert closed == [True]
    assert c.get("/stream-resp").text == "012"
    r = c.head("/stream")
    assert r.data == b""
    # HEAD never starts the generator (so its finally never runs).
    assert closed == [True]


def test_stream_close_runs_even_if_client_stops_early():
    app = App(__name__)
    closed = []

    @app.get("/s")
    def s():
        def gen():
            try:
                for i in range(1000):
                    yield f"{i},"
            finally:
                closed.append(True)

        return gen()

    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/s", "wsgi.input": None}
    result = app(env, lambda s, h: None)
    assert next(iter(result)) == b"0,"
    result.close()
    assert closed == [True]


@pytest.fixture
def coercion_app():
    app = App(__name__)

    def wsgi_app(environ, start_response):
        start_response("202 Accepted", [("Content-Type", "text/plain"), ("X-W", "1")])
        return [b"from ", b"wsgi"]

    views = {
        "str": lambda: "text",
        "bytes": lambda: b"\x00\x01",
        "dict": lambda: {"a": 1},
        "list": lambda: [1, 2],
        "tuple2": lambda: ("created", 201),
        "tuple2h": lambda: ("hdr", {"X-A": "1"}),
        "tuple3": lambda: ({"ok": True}, 202, [("X-B", "2")]),
        "resp": lambda: Response("r", 203),
        "resp_tuple": lambda: (Response("r"), 206, {"X-C": "3"}),
        "gen": lambda: (c for c in ["g", "e", "n"]),
        "wsgi": lambda: wsgi_app,
        "none": lambda: None,
        "bad4": lambda: ("a", 200, {}, 1),
        "badtype": lambda: 3.5,
    }
    for name, view in views.items():
        app.add_url_rule(f"/{name}", name, view)
    return app


@pytest.mark.parametrize(
    "path, status, mimetype, body",
    [
        ("/str", 200, "text/html", b"text"),
        ("/bytes", 200, "text/html", b"\x00\x01"),
        ("/dict", 200, "application/json", b'{"a":1}'),
        ("/list", 200, "application/json", b"[1,2]"),
        ("/tuple2", 201, "text/html", b"created"),
        ("/tuple2h", 200, "text/html", b"hdr"),
        ("/tuple3", 202, "application/json", b'{"ok":true}'),
        ("/resp", 203, "text/html", b"r"),
        ("/resp_tuple", 206, "text/html", b"r"),
        ("/gen", 200, "text/html", b"gen"),
        ("/wsgi", 202, "text/plain", b"from wsgi"),
    ],
)
def test_return_value_coercion(coercion_app, path, status, mimetype, body):
    r = coercion_app.test_client().get(path)
    assert (r.status_code, r.mimetype, r.data) == (status, mimetype, body)


def test_coercion_headers_from_tuples(coercion_app):
    c = coercion_app.test_client()
    assert c.get("/tuple2h").headers["X-A"] == "1"
    assert c.get("/tuple3").headers["X-B"] == "2"
    assert c.get("/resp_tuple").headers["X-C"] == "3"
    assert c.get("/wsgi").headers["X-W"] == "1"


@pytest.mark.parametrize("path", ["/none", "/bad4", "/badtype"])
def test_bad_return_values_are_500(coercion_app, path, caplog):
    r = coercion_app.test_client().get(path)
    assert r.status_code == 500
    assert "TypeError" in caplog.text


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_codes(code):
    r = redirect("/target?x=1", code)
    assert r.status_code == code
    assert r.headers["Location"] == "/target?x=1"
    assert b"/target?x=1" in r.data


def test_redirect_defaults_and_validation():
    assert redirect("/x").status_code == 302
    with pytest.raises(ValueError):
        redirect("/x", 200)
    # Non-ASCII and CR/LF are percent-encoded, never sent raw.
    r = redirect("/café\r\nSet-Cookie: x=1")
    assert "\r" not in r.headers["Location"] and "%0D%0A" in r.headers["Location"]
    assert r.headers["Location"].startswith("/caf%C3%A9")


def test_abort_with_code_and_description():
    app = App(__name__)

    @app.get("/a/<int:code>")
    def a(code):
        abort(code, f"custom {code}")

    @app.get("/resp")
    def resp():
        abort(Response("teapot", 418))

    c = app.test_client()
    for code in (400, 401, 403, 404, 409, 418, 422, 503):
        r = c.get(f"/a/{code}")
        assert r.status_code == code
        assert r.get_json()["detail"] == f"custom {code}"
    assert c.get("/resp").status_code == 418
    assert c.get("/resp").text == "teapot"


def test_204_and_304_carry_no_body():
    app = App(__name__)
    app.add_url_rule("/nc", "nc", lambda: ("ignored", 204))
    app.add_url_rule("/nm", "nm", lambda: ("", 304))
    c = app.test_client()
    r = c.get("/nc")
    assert r.status_code == 204 and r.data == b"" and "Content-Length" not in r.headers
    assert c.get("/nm").data == b""


def test_call_on_close_runs_after_body():
    app = App(__name__)
    events = []

    @app.get("/")
    def index():
        r = Response("x")
        r.call_on_close(lambda: events.append("closed"))
        return r

    app.test_client().get("/")
    assert events == ["closed"]
