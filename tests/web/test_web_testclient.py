import pytest

from hatchway.web import App, Response, redirect, request
from hatchway.web.testing import TestClient, WSGIViolation


@pytest.fixture
def app():
    app = App(__name__)

    @app.route("/echo", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def echo():
        return {
            "method": request.method,
            "args": request.args.to_dict(flat=False),
            "json": request.get_json(silent=True),
            "form": request.form.to_dict(),
            "data": request.get_data(as_text=True),
            "x": request.headers.get("X-Test"),
            "cookies": request.cookies,
        }

    @app.get("/set/<name>/<value>")
    def set_cookie(name, value):
        r = Response("set")
        r.set_cookie(name, value)
        return r

    @app.get("/scoped")
    def scoped():
        r = Response("scoped")
        r.set_cookie("scoped", "1", path="/echo")
        return r

    @app.get("/unset/<name>")
    def unset(name):
        r = Response("unset")
        r.delete_cookie(name)
        return r

    @app.post("/redir/<int:code>")
    def redir(code):
        return redirect("/echo?from=" + str(code), code)

    @app.get("/loop")
    def loop():
        return redirect("/loop")

    return app


def test_verbs_json_data_headers_query(app):
    c = app.test_client()
    r = c.post("/echo", json={"a": 1}, headers={"X-Test": "yes"}, query_string={"q": ["1", "2"]})
    assert r.status_code == 200 and r.status == "200 OK"
    body = r.get_json()
    assert body["method"] == "POST" and body["json"] == {"a": 1}
    assert body["x"] == "yes" and body["args"] == {"q": ["1", "2"]}
    assert c.put("/echo", data="raw").get_json()["data"] == "raw"
    assert c.patch("/echo", data={"f": "v"}).get_json()["form"] == {"f": "v"}
    assert c.delete("/echo?z=1").get_json()["args"] == {"z": ["1"]}
    assert c.open("/echo", method="PUT", query_string="a=b").get_json()["args"] == {"a": ["b"]}
    r = c.get("/echo")
    assert r.text.startswith("{") and r.data == r.text.encode()
    assert r.headers["content-type"] == "application/json"


def test_cookies_kept_across_calls_and_deleted(app):
    c = app.test_client()
    c.get("/set/a/1")
    c.get("/set/b/two words")
    assert c.get("/echo").get_json()["cookies"] == {"a": "1", "b": "two words"}
    assert c.get_cookie("b") == "two words"
    c.get("/unset/a")
    assert c.get("/echo").get_json()["cookies"] == {"b": "two words"}
    c.get("/scoped")
    assert c.get("/echo").get_json()["cookies"]["scoped"] == "1"
    assert c.get_cookie("scoped") == "1"
    no_cookies = app.test_client(use_cookies=False)
    no_cookies.get("/set/a/1")
    assert no_cookies.get("/echo").get_json()["cookies"] == {}


def test_follow_redirects(app):
    c = app.test_client()
    r = c.post("/redir/303", data="body", follow_redirects=True)
    assert r.get_json()["method"] == "GET" and r.get_json()["args"] == {"from": ["303"]}
    assert [h.status_code for h in r.history] == [303]
    r = c.post("/redir/307", data="body", follow_redirects=True)
    assert r.get_json()["method"] == "POST" and r.get_json()["data"] == "body"
    r = c.post("/redir/302", follow_redirects=False)
    assert r.status_code == 302 and r.location == "/echo?from=302"
    with pytest.raises(WSGIViolation, match="redirects"):
        c.get("/loop", follow_redirects=True)


# --- the validator: each broken app below must make the client fail loudly


def raw(status="200 OK", headers=None, body=(b"ok",), start=True, twice=False):
    if headers is None:
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(sum(len(b) for b in body)))]

    def app(environ, start_response):
        if start:
            start_response(status, headers)
        if twice:
            start_response(status, headers)
        return body

    return app


BROKEN = {
    "crlf-header": raw(headers=[("X", "a\r\nb")]),
    "bad-name": raw(headers=[("Bad Name", "v")]),
    "non-str-value": raw(headers=[("X-N", 5)]),
    "tuple-headers": raw(headers=(("Content-Type", "text/plain"),)),
    "bad-status": raw(status="200"),
    "bytes-status": raw(status=b"200 OK"),
    "interim-status": raw(status="100 Continue", headers=[]),
    "hop-by-hop": raw(headers=[("Content-Type", "text/plain"), ("Connection", "close")]),
    "length-mismatch": raw(headers=[("Content-Type", "text/plain"), ("Content-Length", "5")]),
    "dup-length": raw(headers=[("Content-Type", "text/plain"), ("Content-Length", "2"), ("Content-Length", "2")]),
    "str-body": raw(body=["ok"]),
    "str-result": raw(body="ok"),
    "no-start": raw(start=False),
    "start-twice": raw(twice=True),
    "204-with-body": raw(status="204 No Content", headers=[]),
    "redirect-no-location": raw(status="302 Found", headers=[("Content-Type", "text/plain"), ("Content-Length", "2")]),
    "405-no-allow": raw(status="405 Method Not Allowed"),
    "body-no-ctype": raw(headers=[("Content-Length", "2")]),
    "bad-set-cookie": raw(headers=[("Content-Type", "text/plain"), ("Set-Cookie", "nonsense")]),
}


REASONS = {
    "crlf-header": "control characters", "bad-name": "invalid header name",
    "non-str-value": "native str", "tuple-headers": "must be a list", "bad-status": "malformed status",
    "bytes-status": "native str", "interim-status": "interim", "hop-by-hop": "hop-by-hop",
    "length-mismatch": "Content-Length says 5", "dup-length": "content-length sent 2 times",
    "str-body": "yielded str", "str-result": "returned a str", "no-start": "before start_response",
    "start-twice": "second time", "204-with-body": "204 response carried",
    "redirect-no-location": "without a Location", "405-no-allow": "without an Allow",
    "body-no-ctype": "no Content-Type", "bad-set-cookie": "malformed Set-Cookie",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validator_rejects_broken_responses(name):
    with pytest.raises(WSGIViolation, match=REASONS[name]):
        TestClient(BROKEN[name]).get("/")


def test_validator_rejects_body_on_head():
    with pytest.raises(WSGIViolation, match="HEAD"):
        TestClient(raw()).head("/")


def test_validator_accepts_correct_raw_app_and_calls_close():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return Body([b"ok", b"ok"])

    r = TestClient(app).get("/")
    assert r.data == b"okok" and closed == [True]


def test_validator_checks_every_framework_response_shape(app):
    # The framework's own output passes the validator on every path kind.
    c = app.test_client()
    for path, method in [("/echo", "GET"), ("/echo", "HEAD"), ("/echo", "OPTIONS"), ("/nope", "GET"),
                         ("/set/a/b", "DELETE"), ("/redir/308", "POST")]:
        c.open(path, method)
