"""Uploads, sessions and flash: the same views in Flask and hatchway.web give the same answers.

The views are written once against a module (``flask`` or ``hatchway.web``)
and driven by each framework's own test client with the same Werkzeug-style
arguments. Intentional differences (docs/web.md) are left out of the table:
the session cookie's SameSite attribute (hatchway adds Lax) and its format.
"""

import io

from types import SimpleNamespace

import flask
import pytest
from werkzeug.utils import secure_filename

import hatchway.web as hw


def define(mod, app):
    request, session = mod.request, mod.session

    @app.route("/upload", methods=["POST"])
    def upload():
        out = {"form": request.form.to_dict(flat=False), "files": {}}
        for name in request.files:
            for f in request.files.getlist(name):
                data = f.read()
                out["files"].setdefault(name, []).append(
                    [f.filename, f.name, f.content_type, f.mimetype, len(data), data[:8].decode("latin-1")])
        out["secure"] = [mod.secure_filename(f.filename) for f in request.files.getlist("doc")]
        return out

    @app.route("/login", methods=["POST"])
    def login():
        session["user"] = request.form["user"]
        session.permanent = request.form.get("remember") == "on"
        mod.flash("Logged in")
        mod.flash("Check your e-mail", "warning")
        return mod.redirect("/home", 303)

    @app.route("/home")
    def home():
        return {
            "user": session.get("user"),
            "permanent": session.permanent,
            "flashes": [list(m) for m in mod.get_flashed_messages(with_categories=True)],
            "warnings": mod.get_flashed_messages(category_filter=["warning"]),
        }

    @app.route("/logout")
    def logout():
        session.pop("user", None)
        return {"user": session.get("user"), "len": len(session)}

    @app.route("/count")
    def count():
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"]}


def build_flask():
    app = flask.Flask(__name__)
    app.secret_key = "parity-secret"
    define(SimpleNamespace(request=flask.request, session=flask.session, flash=flask.flash, redirect=flask.redirect,
                           get_flashed_messages=flask.get_flashed_messages, secure_filename=secure_filename), app)
    return app


def build_hatchway():
    app = hw.App(__name__)
    app.secret_key = "parity-secret"
    define(hw, app)
    return app


def upload_data():
    return {
        "title": "Report",
        "tags": ["a", "b"],
        "doc": [(io.BytesIO(b"%PDF-1.7 hello"), "../../Q3 report.pdf", "application/pdf"),
                (io.BytesIO(b"plain text"), "notes.txt", "text/plain")],
        "empty": (io.BytesIO(b""), ""),
    }


SCENARIOS = [
    ("upload", [("POST", "/upload", "upload")]),
    ("login-flash-logout", [("POST", "/login", {"user": "alice", "remember": "on"}), ("GET", "/home", None),
                            ("GET", "/home", None), ("GET", "/logout", None), ("GET", "/home", None)]),
    ("counter", [("GET", "/count", None)] * 3),
    ("not-permanent", [("POST", "/login", {"user": "bob"}), ("GET", "/home", None)]),
]


def run(client, steps):
    out = []
    for method, path, data in steps:
        if data == "upload":
            data = upload_data()
        r = client.open(path, method=method, data=data, follow_redirects=True)
        body = r.get_json()
        cookies = [v for k, v in r.headers.items() if k.lower() == "set-cookie"]
        attrs = sorted({p.strip().split("=")[0].lower() for c in cookies for p in c.split(";")[1:]} - {"samesite"})
        out.append((r.status_code, body, attrs, "Cookie" in (r.headers.get("Vary") or "")))
    return out


@pytest.mark.parametrize("name,steps", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_same_answers_in_flask_and_hatchway(name, steps):
    want = run(build_flask().test_client(), steps)
    got = run(build_hatchway().test_client(), steps)
    assert got == want
