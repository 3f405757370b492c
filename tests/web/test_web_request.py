import io
import json

import pytest
from hypothesis import given, settings, strategies as st

from hatchway.web import App, Request, request
from hatchway.web.exceptions import BadRequest


@pytest.fixture
def app():
    app = App(__name__)

    @app.route("/echo/<path:rest>", methods=["GET", "POST", "PUT"])
    def echo(rest):
        return {
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "url": request.url,
            "host": request.host,
            "scheme": request.scheme,
            "remote_addr": request.remote_addr,
            "ua": request.headers.get("user-agent"),
            "x": request.headers.get("X-Thing"),
            "X_in": "x-thing" in request.headers,
            "args": request.args.to_dict(flat=False),
            "cookies": request.cookies,
            "text": request.text,
        }

    @app.post("/json")
    def post_json():
        return {"got": request.json}

    @app.post("/form")
    def post_form():
        return {"form": request.form.to_dict(flat=False)}

    @app.post("/data")
    def post_data():
        return {"len": len(request.get_data())}

    @app.get("/n")
    def n():
        return {"n": request.args.get("n", type=int), "d": request.args.get("n", -1, type=int)}

    @app.get("/strict")
    def strict():
        return {"n": request.args.require("n", type=int)}

    @app.get("/index")
    def index():
        return {"q": request.args["q"]}

    return app


def test_request_basics(app):
    c = app.test_client(base_url="https://example.test:8443")
    r = c.post(
        "/echo/a%20b?x=1&x=2&y=",
        headers={"User-Agent": "UA/1", "x-thing": "T", "Cookie": 'sid=abc; n="q\\073r"'},
        data="hello",
    )
    got = r.get_json()
    assert got == {
        "method": "POST",
        "path": "/echo/a b",
        "full_path": "/echo/a b?x=1&x=2&y=",
        "url": "https://example.test:8443/echo/a%20b?x=1&x=2&y=",
        "host": "example.test:8443",
        "scheme": "https",
        "remote_addr": "127.0.0.1",
        "ua": "UA/1",
        "x": "T",
        "X_in": True,
        "args": {"x": ["1", "2"], "y": [""]},
        "cookies": {"sid": "abc", "n": "q;r"},
        "text": "hello",
    }


def test_request_is_slotted_and_lazy():
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/p", "QUERY_STRING": "a=1", "wsgi.input": io.BytesIO()}
    req = Request(env)
    assert not hasattr(req, "__dict__")
    with pytest.raises(AttributeError):
        req.anything = 1
    with pytest.raises(AttributeError):
        req._args  # not parsed until asked for
    assert req.args["a"] == "1"
    assert req._args is req.args
    assert Request({"REQUEST_METHOD": "GET"}).path == "/"


def test_path_and_query_are_utf8_decoded():
    raw = "/é".encode().decode("latin-1")
    req = Request({"REQUEST_METHOD": "GET", "PATH_INFO": raw, "QUERY_STRING": "q=%C3%A9&r=" + "é".encode().decode("latin-1")})
    assert req.path == "/é"
    assert req.args.to_dict() == {"q": "é", "r": "é"}


def test_json_ok_and_variants(app):
    c = app.test_client()
    assert c.post("/json", json={"a": [1, 2]}).get_json() == {"got": {"a": [1, 2]}}
    r = c.post("/json", data=b'{"a":1}', headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
    assert r.get_json() == {"got": {"a": 1}}


@pytest.mark.parametrize(
    "body, ctype, status",
    [
        (b'{"a":', "application/json", 400),
        (b"", "application/json", 400),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b'{"a": NaN', "application/json", 400),
        (b'{"a":1}', "text/plain", 415),
        (b'{"a":1}', None, 415),
        (b"[" * 33 + b"]" * 33, "application/json", 400),
        (b"[" * 200000 + b"]" * 200000, "application/json", 400),
        (b"[" * 600000 + b"]" * 600000, "application/json", 413),
    ],
    ids=["truncated", "empty", "not-utf8", "nan-truncated", "text-plain", "no-ctype",
         "depth-33", "depth-200k", "over-1MiB"],
)
def test_json_errors_are_4xx_never_500(app, body, ctype, status):
    headers = {"Content-Type": ctype} if ctype else {}
    r = app.test_client().post("/json", data=body, headers=headers)
    assert r.status_code == status, r.data
    problem = r.get_json()
    assert problem["status"] == status
    assert r.mimetype == "application/problem+json"


def test_json_depth_limit_counts_only_real_nesting(app):
    c = app.test_client()
    ok = b"[" * 32 + b"]" * 32
    assert c.post("/json", data=ok, headers={"Content-Type": "application/json"}).status_code == 200
    # Brackets inside strings are not nesting.
    tricky = json.dumps({"s": "[" * 500 + '\\"{{{'}).encode()
    assert c.post("/json", data=tricky, headers={"Content-Type": "application/json"}).status_code == 200
    deep = b'{"a":' * 33 + b"1" + b"}" * 33
    r = c.post("/json", data=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "depth" in r.get_json()["detail"]


def test_json_limits_are_configurable(app):
    app.config["MAX_JSON_DEPTH"] = 2
    app.config["MAX_JSON_SIZE"] = 20
    c = app.test_client()
    assert c.post("/json", json=[[1]]).status_code == 200
    assert c.post("/json", json=[[[1]]]).status_code == 400
    assert c.post("/json", json="x" * 30).status_code == 413


def test_deep_json_without_depth_limit_is_still_400(app):
    app.config["MAX_JSON_DEPTH"] = None
    body = b"[" * 100000 + b"]" * 100000
    r = app.test_client().post("/json", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.text(alphabet='[]{}":,\\ 0123abc', max_size=300).map(str.encode))
def test_arbitrary_json_bodies_never_500(body):
    app = App(__name__, config={"MAX_JSON_DEPTH": 8})

    @app.post("/j")
    def j():
        return {"type": type(request.json).__name__}

    r = app.test_client().post("/j", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 400), (body, r.data)


def test_urlencoded_form(app):
    c = app.test_client()
    r = c.post("/form", data={"a": ["1", "2"], "b": "é"})
    assert r.get_json() == {"form": {"a": ["1", "2"], "b": ["é"]}}
    # Not a form body: empty form, not an error.
    r = c.post("/form", data=b"a=1", headers={"Content-Type": "text/plain"})
    assert r.get_json() == {"form": {}}
    # An empty multipart body (just the closing delimiter) is an empty form.
    r = c.post("/form", data=b"--x--", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 200 and r.get_json() == {"form": {}}


def test_max_content_length_413(app):
    app.config["MAX_CONTENT_LENGTH"] = 10
    c = app.test_client()
    assert c.post("/data", data=b"x" * 10).get_json() == {"len": 10}
    r = c.post("/data", data=b"x" * 11)
    assert r.status_code == 413
    assert c.post("/form", data={"a": "x" * 20}).status_code == 413


def test_max_content_length_per_request_override():
    app = App(__name__, config={"MAX_CONTENT_LENGTH": 5})

    @app.before_request
    def uploads_may_be_bigger():
        if request.path == "/upload":
            request.max_content_length = 100

    @app.post("/upload")
    def upload():
        return str(len(request.get_data()))

    @app.post("/small")
    def small():
        return str(len(request.get_data()))

    c = app.test_client()
    assert c.post("/upload", data=b"x" * 50).text == "50"
    assert c.post("/small", data=b"x" * 50).status_code == 413


def test_body_without_content_length_needs_terminated_input(app):
    c = app.test_client()
    env = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True, "wsgi.input": io.BytesIO(b"abcdef")}
    r = c.post("/data", environ_overrides=env)
    assert r.get_json() == {"len": 6}
    env = {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(b"abcdef")}
    assert c.post("/data", environ_overrides=env).get_json() == {"len": 0}
    app.config["MAX_CONTENT_LENGTH"] = 3
    env = {"CONTENT_LENGTH": "", "wsgi.input_terminated": True, "wsgi.input": io.BytesIO(b"abcdef")}
    assert c.post("/data", environ_overrides=env).status_code == 413


def test_bad_content_length_is_400(app):
    r = app.test_client().post("/data", environ_overrides={"CONTENT_LENGTH": "12abc"})
    assert r.status_code == 400


def test_typed_query_getters(app):
    c = app.test_client()
    assert c.get("/n?n=5").get_json() == {"n": 5, "d": 5}
    assert c.get("/n?n=x").get_json() == {"n": None, "d": -1}
    assert c.get("/n").get_json() == {"n": None, "d": -1}
    assert c.get("/strict?n=7").get_json() == {"n": 7}
    r = c.get("/strict?n=seven")
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == "n" and "'n'" in body["detail"] and "int" in body["detail"]
    r = c.get("/strict")
    assert r.status_code == 400 and r.get_json()["field"] == "n"
    r = c.get("/index")
    assert r.status_code == 400 and "'q'" in r.get_json()["detail"]


def test_multidict_require_raises_bad_request_directly():
    from hatchway.web import MultiDict

    d = MultiDict([("a", "1"), ("a", "2")], "query parameter")
    assert d.getlist("a", type=int) == [1, 2]
    assert d.require("a", type=int) == 1
    with pytest.raises(BadRequest):
        d.require("b")
    with pytest.raises(KeyError):
        d["b"]  # also a KeyError, for code that expects dict behaviour


def test_request_stream_is_limited():
    from hatchway.web.streams import LimitedStream

    s = LimitedStream(io.BytesIO(b"abcdefgh"), 5)
    assert s.read(2) == b"ab"
    assert s.read() == b"cde"
    assert s.read() == b""
