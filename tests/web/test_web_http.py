"""hatchway.web through real HTTP on hatchway's own server (hatchway.wsgi.make_server)."""

import threading

import pytest
import requests

from hatchway.web import App, Blueprint, Response, abort, redirect, request, start_thread


def build_app():
    app = App(__name__, config={"MAX_CONTENT_LENGTH": 1000})

    @app.get("/")
    def hello():
        return "Hello, World!"

    @app.get("/echo/<path:rest>")
    def echo(rest, request):
        return {
            "rest": rest,
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "agent": request.headers.get("user-agent"),
            "host": request.host,
            "remote_addr": request.remote_addr,
            "url": request.url,
        }

    @app.post("/json")
    def post_json():
        return {"got": request.json}, 201

    @app.post("/form")
    def post_form():
        return request.form.to_dict()

    @app.route("/projects/", methods=["GET", "POST"])
    def projects():
        return {"method": request.method, "body": request.get_data(as_text=True)}

    @app.route("/items", methods=["GET", "POST"])
    def items():
        return "items"

    @app.get("/login")
    def login():
        r = Response("logged in")
        r.set_cookie("sid", "s e;c", httponly=True, samesite="Lax")
        return r

    @app.get("/me")
    def me():
        return {"sid": request.cookies.get("sid")}

    @app.get("/stream")
    def stream():
        def gen():
            for i in range(5):
                yield f"chunk{i} {request.path}\n"

        return gen()

    @app.post("/submit")
    def submit():
        return redirect("/done", 303)

    @app.get("/done")
    def done():
        return "done"

    @app.get("/boom")
    def boom():
        raise RuntimeError("internal detail")

    @app.get("/forbidden")
    def forbidden():
        abort(403, "go away")

    @app.get("/café/<name>")
    def cafe(name):
        return {"name": name}

    @app.before_request
    def gate():
        if request.headers.get("X-Block"):
            return {"blocked": True}, 429

    @app.after_request
    def stamp(resp):
        resp.headers["X-Stamp"] = "1"
        return resp

    @app.get("/typed")
    def typed():
        return {"n": request.args.require("n", type=int), "m": request.args.get("m", 7, type=int)}

    @app.get("/bad-header")
    def bad_header():
        r = Response("x")
        r.headers["X-Bad"] = "a\r\nInjected: 1"
        return r

    @app.get("/build/<int:id>")
    def build(id):
        return {"url": app.url_for("build", id=id, q="a b"), "ext": app.url_for("build", id=id, _external=True)}

    @app.get("/uuid/<uuid:u>/<any(a, b):which>/<float:x>")
    def conv(u, which, x):
        return {"u": str(u), "which": which, "x": x}

    @app.errorhandler(ZeroDivisionError)
    def zde(e):
        return {"handled": "ZeroDivisionError"}, 422

    @app.get("/div")
    def div():
        return 1 // 0

    bp = Blueprint("admin", __name__, url_prefix="/admin")

    @bp.get("/users/<int:id>")
    def user(id):
        return {"id": id, "url": request.url_for(".user", id=id + 1)}

    app.register_blueprint(bp)
    return app


@pytest.fixture
def base(serve):
    return serve(build_app())


def test_hello_and_request_data(base):
    r = requests.get(base + "/")
    assert r.status_code == 200 and r.text == "Hello, World!"
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Content-Length"] == "13"
    r = requests.get(base + "/echo/a/b%20c?x=1&x=2", headers={"User-Agent": "t/1"})
    got = r.json()
    assert got["rest"] == "a/b c" and got["path"] == "/echo/a/b c"
    assert got["args"] == {"x": ["1", "2"]} and got["agent"] == "t/1"
    assert got["host"] == base.split("//")[1] and got["remote_addr"] == "127.0.0.1"
    assert got["url"] == base + "/echo/a/b%20c?x=1&x=2"


def test_non_ascii_path(base):
    r = requests.get(base + "/café/été")
    assert r.status_code == 200 and r.json() == {"name": "été"}


def test_json_and_its_errors(base):
    r = requests.post(base + "/json", json={"a": [1, 2]})
    assert r.status_code == 201 and r.json() == {"got": {"a": [1, 2]}}
    r = requests.post(base + "/json", data=b"{bad", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json"
    r = requests.post(base + "/json", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = requests.post(base + "/json", data=b"[" * 40 + b"]" * 40, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = requests.post(base + "/json", json="x" * 2000)
    assert r.status_code == 413


def test_form(base):
    assert requests.post(base + "/form", data={"a": "1", "b": "é"}).json() == {"a": "1", "b": "é"}


def test_404_405_head_options(base):
    r = requests.get(base + "/nope")
    assert r.status_code == 404 and r.json()["status"] == 404
    r = requests.get(base + "/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    r = requests.delete(base + "/items")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    get = requests.get(base + "/items")
    head = requests.head(base + "/items")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    r = requests.options(base + "/items")
    assert r.status_code == 200
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}


def test_strict_slash_308_keeps_post(base):
    r = requests.post(base + "/projects?q=1", data="payload", allow_redirects=False)
    assert r.status_code == 308 and r.headers["Location"] == "/projects/?q=1"
    r = requests.post(base + "/projects", data="payload")
    assert r.status_code == 200
    assert r.json() == {"method": "POST", "body": "payload"}
    assert [h.status_code for h in r.history] == [308]


def test_303_after_post(base):
    r = requests.post(base + "/submit", data="x")
    assert r.status_code == 200 and r.text == "done"
    assert r.history[0].status_code == 303


def test_cookies_round_trip(base):
    s = requests.Session()
    r = s.get(base + "/login")
    assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Lax" in r.headers["Set-Cookie"]
    assert s.get(base + "/me").json() == {"sid": "s e;c"}


def test_streaming_response_is_chunked(base):
    with requests.get(base + "/stream", stream=True) as r:
        assert r.headers.get("Transfer-Encoding") == "chunked"
        body = b"".join(r.iter_content(None))
    assert body.decode().splitlines() == [f"chunk{i} /stream" for i in range(5)]


def test_errors_over_http(base):
    r = requests.get(base + "/boom")
    assert r.status_code == 500
    assert "internal detail" not in r.text and "Traceback" not in r.text
    r = requests.get(base + "/forbidden")
    assert r.status_code == 403 and r.json()["detail"] == "go away"


def test_body_over_max_content_length(base):
    r = requests.post(base + "/form", data={"a": "x" * 5000})
    assert r.status_code == 413


def test_blueprint_over_http(base):
    assert requests.get(base + "/admin/users/4").json() == {"id": 4, "url": "/admin/users/5"}


def test_concurrent_requests_keep_their_own_context(serve):
    n = 4
    barrier = threading.Barrier(n, timeout=20)
    app = App(__name__)

    @app.get("/who")
    def who():
        mine = request.args["id"]
        barrier.wait()  # every request is in flight at once here
        return {"id": request.args["id"], "before": mine}

    base = serve(app, threaded=True)
    results = [None] * n

    def client(i):
        results[i] = requests.get(f"{base}/who?id={i}", timeout=30).json()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [{"id": str(i), "before": str(i)} for i in range(n)]


def test_thread_helper_under_real_server(serve):
    app = App(__name__)
    done = threading.Event()
    seen = {}

    @app.get("/bg")
    def bg():
        def work():
            seen["path"] = request.path
            seen["q"] = request.args.get("q")
            done.set()

        start_thread(work)
        return "started", 202

    base = serve(app)
    assert requests.get(base + "/bg?q=z").status_code == 202
    assert done.wait(20)
    assert seen == {"path": "/bg", "q": "z"}


def test_inline_server_mode_too(serve):
    base = serve(build_app(), threaded=False)
    assert requests.get(base + "/").text == "Hello, World!"
    assert requests.post(base + "/json", json=[1]).json() == {"got": [1]}


# Every behaviour below is checked twice: through the in-process test client
# and through real HTTP on hatchway's server. Both must agree exactly.
TABLE = [
    ("GET", "/", {}, b""),
    ("HEAD", "/", {}, b""),
    ("OPTIONS", "/items", {}, b""),
    ("DELETE", "/items", {}, b""),
    ("GET", "/nope", {}, b""),
    ("GET", "/nope", {"Accept": "text/html"}, b""),
    ("POST", "/projects?x=1", {}, b"p"),
    ("GET", "/echo/a/b?x=1&x=2", {"User-Agent": "same"}, b""),
    ("POST", "/json", {"Content-Type": "application/json"}, b'{"a": 1}'),
    ("POST", "/json", {"Content-Type": "application/json"}, b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
    ("POST", "/json", {"Content-Type": "text/plain"}, b"{}"),
    ("POST", "/json", {"Content-Type": "application/json"}, b"{nope"),
    ("POST", "/form", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=%C3%A9"),
    ("POST", "/form", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=" + b"x" * 1200),
    ("GET", "/typed?n=3", {}, b""),
    ("GET", "/typed?n=three", {}, b""),
    ("GET", "/typed", {}, b""),
    ("GET", "/login", {}, b""),
    ("GET", "/stream", {}, b""),
    ("POST", "/submit", {}, b""),
    ("GET", "/boom", {}, b""),
    ("GET", "/forbidden", {}, b""),
    ("GET", "/bad-header", {}, b""),
    ("GET", "/div", {}, b""),
    ("GET", "/", {"X-Block": "1"}, b""),
    ("GET", "/build/4", {}, b""),
    ("GET", "/uuid/12345678-1234-5678-1234-567812345678/b/2.5", {}, b""),
    ("GET", "/uuid/nope/b/2.5", {}, b""),
    ("GET", "/admin/users/9", {}, b""),
    ("GET", "/caf%C3%A9/%C3%A9t%C3%A9", {}, b""),
]

COMPARED = ("content-type", "allow", "location", "set-cookie", "x-stamp")


def normalise(status, headers, body, base):
    h = {k.lower(): v for k, v in headers}
    out = {"status": status, "body": body.replace(base.encode(), b"BASE")}
    for name in COMPARED:
        if name in h:
            out[name] = h[name]
    if "content-length" in h:
        out["content-length"] = h["content-length"]
    return out


@pytest.mark.parametrize("method, target, headers, body", TABLE, ids=[f"{m} {t[:40]}" for m, t, _, _ in TABLE])
def test_test_client_and_real_http_agree(serve, method, target, headers, body):
    app = build_app()
    base = serve(app)
    host = base.split("//")[1]
    client = app.test_client(base_url=base)
    via_client = client.open(target, method, data=body or None, headers=headers)
    real = requests.request(method, base + target, data=body or None, headers=headers, allow_redirects=False)
    expected = normalise(via_client.status_code, via_client.headers.items(), via_client.data, base)
    got = normalise(real.status_code, real.headers.items(), real.content, base)
    if real.headers.get("Transfer-Encoding") == "chunked":
        assert "content-length" not in expected
    if method == "GET" and target == "/bad-header":
        # The CR/LF never reaches the wire: the app refuses it with a 500.
        assert got["status"] == 500 and b"Injected" not in real.content
        assert "Injected" not in str(real.headers)
    assert host in base
    assert got == expected
