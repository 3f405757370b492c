"""A real Flask app served by hatchway's make_server, driven by requests."""
import hashlib
import io
import json

import pytest
import requests
from flask import Flask, Response, abort, jsonify, redirect, request, session, stream_with_context, url_for


class Teapot(Exception):
    pass


def create_app():
    app = Flask("hatchway_corpus_flask")
    app.secret_key = "test-secret"
    items = {}

    @app.get("/api/items")
    def list_items():
        return jsonify(sorted(items.values(), key=lambda i: i["id"]))

    @app.post("/api/items")
    def create_item():
        data = request.get_json(force=True)
        item = {"id": len(items) + 1, "name": data["name"], "tags": data.get("tags", [])}
        items[item["id"]] = item
        return jsonify(item), 201, {"Location": url_for("get_item", item_id=item["id"])}

    @app.get("/api/items/<int:item_id>")
    def get_item(item_id):
        if item_id not in items:
            abort(404)
        return jsonify(items[item_id])

    @app.post("/form")
    def form():
        return jsonify(fields=request.form.to_dict(flat=False), args=request.args.to_dict())

    @app.post("/upload")
    def upload():
        f = request.files["file"]
        data = f.read()
        return jsonify(filename=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                       note=request.form.get("note"))

    @app.post("/login")
    def login():
        session["user"] = request.form["user"]
        resp = redirect(url_for("me"))
        resp.set_cookie("theme", "dark", httponly=True)
        return resp

    @app.get("/me")
    def me():
        return jsonify(user=session.get("user"), theme=request.cookies.get("theme"))

    @app.get("/old")
    def old():
        return redirect("/new?from=old", code=301)

    @app.get("/new")
    def new():
        return jsonify(arrived=True, args=request.args.to_dict())

    @app.get("/stream")
    def stream():
        n = int(request.args.get("n", 100))

        def gen():
            for i in range(n):
                yield f"line {i}\n"

        return Response(stream_with_context(gen()), mimetype="text/plain")

    @app.get("/teapot")
    def teapot():
        raise Teapot("short and stout")

    @app.errorhandler(Teapot)
    def handle_teapot(exc):
        return jsonify(error=str(exc)), 418

    @app.errorhandler(404)
    def not_found(exc):
        return jsonify(error="not found", path=request.path), 404

    @app.get("/crash")
    def crash():
        raise RuntimeError("flask-secret-crash")

    return app


@pytest.fixture
def flask_url(serve):
    # Not wrapped in wsgiref's validator: with wsgi.input_terminated set, Werkzeug calls
    # wsgi.input.read() with no size (PEP 3333 allows it via that extension), which the
    # validator's InputWrapper forbids. Flask/Werkzeug are the WSGI app under test here.
    srv = serve(create_app().wsgi_app, validate=False)
    return srv.url


def test_json_api_roundtrip(flask_url):
    with requests.Session() as s:
        assert s.get(flask_url + "/api/items", timeout=10).json() == []
        r = s.post(flask_url + "/api/items", json={"name": "caf\u00e9", "tags": ["a", "b"]}, timeout=10)
        assert r.status_code == 201 and r.json() == {"id": 1, "name": "caf\u00e9", "tags": ["a", "b"]}
        assert r.headers["Location"].endswith("/api/items/1")
        r = s.post(flask_url + "/api/items", data=json.dumps({"name": "two"}), timeout=10)
        assert r.json()["id"] == 2
        assert [i["name"] for i in s.get(flask_url + "/api/items", timeout=10).json()] == ["caf\u00e9", "two"]
        assert s.get(flask_url + "/api/items/2", timeout=10).json()["name"] == "two"


def test_form_post(flask_url):
    r = requests.post(flask_url + "/form?x=1", data={"a": "1", "b": ["2", "3"], "c": "sp ace&amp"}, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"fields": {"a": ["1"], "b": ["2", "3"], "c": ["sp ace&amp"]}, "args": {"x": "1"}}


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024])
def test_multipart_upload(flask_url, size):
    data = (hashlib.sha256(b"up").digest() * (size // 32 + 1))[:size]
    r = requests.post(flask_url + "/upload", files={"file": ("report.bin", io.BytesIO(data), "application/octet-stream")},
                      data={"note": "hello"}, timeout=30)
    assert r.status_code == 200
    assert r.json() == {"filename": "report.bin", "size": size, "sha256": hashlib.sha256(data).hexdigest(), "note": "hello"}


def test_cookies_session_and_redirect(flask_url):
    with requests.Session() as s:
        r = s.post(flask_url + "/login", data={"user": "ada"}, timeout=10)
        assert r.status_code == 200 and r.json() == {"user": "ada", "theme": "dark"}
        assert r.history and r.history[0].status_code == 302
        assert s.get(flask_url + "/me", timeout=10).json()["user"] == "ada"
    assert requests.get(flask_url + "/me", timeout=10).json() == {"user": None, "theme": None}


def test_permanent_redirect(flask_url):
    r = requests.get(flask_url + "/old", timeout=10)
    assert r.status_code == 200 and r.json() == {"arrived": True, "args": {"from": "old"}}
    r = requests.get(flask_url + "/old", allow_redirects=False, timeout=10)
    assert r.status_code == 301 and r.headers["Location"].endswith("/new?from=old")


def test_streaming_response(flask_url):
    with requests.get(flask_url + "/stream?n=5000", stream=True, timeout=20) as r:
        assert r.status_code == 200
        lines = list(r.iter_lines())
    assert len(lines) == 5000 and lines[0] == b"line 0" and lines[-1] == b"line 4999"


def test_404_405_and_error_handlers(flask_url):
    r = requests.get(flask_url + "/nope", timeout=10)
    assert r.status_code == 404 and r.json() == {"error": "not found", "path": "/nope"}
    r = requests.delete(flask_url + "/form", timeout=10)
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    r = requests.get(flask_url + "/teapot", timeout=10)
    assert r.status_code == 418 and r.json() == {"error": "short and stout"}
    r = requests.get(flask_url + "/crash", timeout=10)
    assert r.status_code == 500 and "flask-secret-crash" not in r.text
    r = requests.head(flask_url + "/api/items", timeout=10)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) > 0
