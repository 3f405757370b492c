"""Flask's everyday surface: config loaders, make_response, jsonify, url_for, contexts,
`hatchway routes`, and the strict-slash redirect that beats a converter match."""

import json
import os
import subprocess
import sys
import textwrap

import flask
import pytest
import requests

from hatchway.web import App, Blueprint, Config, current_app, g, jsonify, make_response, request, url_for


# --- config -------------------------------------------------------------------------------------

class Settings:
    DEBUG = True
    SECRET = "s"
    lower = "ignored"


def test_config_from_object_mapping_and_import_string(tmp_path):
    app = App("cfg", root_path=str(tmp_path))
    assert isinstance(app.config, Config) and isinstance(app.config, dict)
    app.config.from_object(Settings)
    assert app.config["SECRET"] == "s" and app.debug and "lower" not in app.config
    app.config.from_object("json")  # a module by import string: JSON has no UPPERCASE names, a no-op
    app.config.from_object("os.path")
    app.config.from_mapping({"A": 1, "b": 2}, C=3)
    assert app.config["A"] == 1 and app.config["C"] == 3 and "b" not in app.config
    app.config.update(MYEXT_DIR="/u", MYEXT_MAX=5)
    assert app.config.get_namespace("MYEXT_") == {"dir": "/u", "max": 5}


def test_config_from_file_toml_json_and_relative_to_root(tmp_path):
    (tmp_path / "settings.toml").write_text('SECRET_KEY = "t"\nMAX_CONTENT_LENGTH = 1024\n[DB]\nhost = "h"\n')
    (tmp_path / "settings.json").write_text(json.dumps({"FROM_JSON": [1, 2], "lower": 0}))
    app = App("cfg", root_path=str(tmp_path))
    assert app.config.from_file("settings.toml") is True
    assert app.config["SECRET_KEY"] == "t" and app.config["DB"] == {"host": "h"}
    app.config.from_file("settings.json")
    assert app.config["FROM_JSON"] == [1, 2] and "lower" not in app.config
    import tomllib

    app.config.from_file("settings.toml", load=tomllib.load, text=False)  # Flask's spelling
    assert app.config.from_file("absent.toml", silent=True) is False
    with pytest.raises(FileNotFoundError, match="Unable to load configuration file"):
        app.config.from_file("absent.toml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ValueError, match="load="):
        app.config.from_file("x.ini")
    # The limit read from the file is the one requests meet.

    @app.post("/p")
    def p():
        return str(len(request.get_data()))

    assert app.test_client().post("/p", data=b"x" * 2000).status_code == 413


def test_config_from_prefixed_env(monkeypatch):
    monkeypatch.setenv("HATCHWAY_SECRET_KEY", "abc")
    monkeypatch.setenv("HATCHWAY_MAX_CONTENT_LENGTH", "2048")
    monkeypatch.setenv("HATCHWAY_FLAG", "true")
    monkeypatch.setenv("HATCHWAY_DB__HOST", '"db.local"')
    monkeypatch.setenv("MYAPP_OTHER", "[1, 2]")
    app = App("env")
    app.config.from_prefixed_env()
    assert app.config["SECRET_KEY"] == "abc"
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["FLAG"] is True
    assert app.config["DB"] == {"HOST": "db.local"}
    app.config.from_prefixed_env("MYAPP")
    assert app.config["OTHER"] == [1, 2]


def test_config_from_pyfile_and_envvar(tmp_path, monkeypatch):
    (tmp_path / "conf.py").write_text("NAME = 'py'\nhelper = 1\n")
    app = App("py", root_path=str(tmp_path))
    app.config.from_pyfile("conf.py")
    assert app.config["NAME"] == "py" and "helper" not in app.config
    monkeypatch.setenv("APP_SETTINGS", str(tmp_path / "conf.py"))
    assert app.config.from_envvar("APP_SETTINGS")
    monkeypatch.delenv("APP_SETTINGS")
    with pytest.raises(RuntimeError, match="APP_SETTINGS"):
        app.config.from_envvar("APP_SETTINGS")


# --- make_response, jsonify, url_for ------------------------------------------------------------

def build_app():
    app = App("surface")
    api = Blueprint("api", __name__, url_prefix="/api")

    @api.get("/items/<int:id>")
    def item(id):
        return jsonify(id=id, self=url_for(".item", id=id), home=url_for("home", _external=True))

    app.register_blueprint(api)

    @app.get("/")
    def home():
        resp = make_response("hello", 201, {"X-Made": "yes"})
        resp.set_cookie("k", "v")
        return resp

    @app.get("/tuple")
    def tuple_view():
        resp = make_response(({"a": 1}, 202))
        resp.headers["X-T"] = "1"
        return resp

    @app.get("/empty")
    def empty():
        return make_response()

    @app.get("/j/<kind>")
    def j(kind):
        if kind == "list":
            return jsonify(1, "two", None)
        if kind == "one":
            return jsonify({"z": 1, "a": "é", "n": [True]})
        return jsonify(b=2, a=1)

    @app.get("/dir/")
    def directory():
        return "the directory"

    @app.get("/<name>")
    def by_name(name):
        return f"name {name}"

    @app.post("/only-post/")
    def only_post():
        return "posted"

    return app


def test_make_response_and_module_url_for():
    c = build_app().test_client()
    r = c.get("/")
    assert (r.status_code, r.text, r.headers["X-Made"]) == (201, "hello", "yes")
    assert "k=v" in r.headers["Set-Cookie"]
    r = c.get("/tuple")
    assert r.status_code == 202 and r.get_json() == {"a": 1} and r.headers["X-T"] == "1"
    assert c.get("/empty").status_code == 200
    r = c.get("/api/items/4")
    assert r.get_json() == {"home": "http://localhost/", "id": 4, "self": "/api/items/4"}


def test_jsonify_bytes_match_flask():
    app = build_app()
    fapp = flask.Flask("ref")
    cases = [((1, "two", None), {}), (({"z": 1, "a": "é", "n": [True]},), {}), ((), {"b": 2, "a": 1})]
    with fapp.app_context():
        expected = [flask.jsonify(*a, **k) for a, k in cases]
        expected = [(e.get_data(), e.mimetype) for e in expected]
    c = app.test_client()
    got = [c.get(f"/j/{kind}") for kind in ("list", "one", "kw")]
    assert [(r.data, r.mimetype) for r in got] == expected
    with pytest.raises(TypeError):
        with app.app_context():
            jsonify(1, a=2)


def test_url_for_outside_context_is_a_clear_error():
    with pytest.raises(RuntimeError, match="app context"):
        url_for("home")


def test_app_context_and_test_request_context():
    app = build_app()
    assert not current_app
    with app.app_context():
        assert current_app.name == "surface"
        g.x = 1
        assert g.x == 1
        assert url_for("api.item", id=2) == "/api/items/2"
    assert not current_app
    with app.test_request_context("/api/items/9?q=1", method="GET", headers={"X-A": "b"}):
        assert request.path == "/api/items/9" and request.args["q"] == "1"
        assert request.headers["X-A"] == "b"
        assert request.endpoint == "api.item" and request.view_args == {"id": 9}
        assert url_for(".item", id=3) == "/api/items/3"
        assert current_app is not None and current_app.name == "surface"
    with app.test_request_context("/", method="POST", json={"k": [1]}):
        assert request.get_json() == {"k": [1]}
    with pytest.raises(TypeError, match="unexpected"):
        app.test_request_context("/", bogus=1)


# --- strict slashes beat converters -------------------------------------------------------------

def test_static_branch_slash_redirect_beats_converter():
    app = build_app()
    c = app.test_client()
    r = c.get("/dir")
    assert r.status_code == 308 and r.location.endswith("/dir/")
    assert c.get("/dir/").text == "the directory"
    assert c.get("/other").text == "name other"
    r = c.get("/dir?x=1")
    assert r.status_code == 308 and r.location.endswith("/dir/?x=1")
    # Only for a method the slash rule takes: GET /only-post goes to <name>.
    assert c.get("/only-post").text == "name only-post"
    assert c.post("/only-post").status_code == 308
    # Same as Flask.
    f = flask.Flask("ref")
    f.add_url_rule("/dir/", "d", lambda: "d")
    f.add_url_rule("/<name>", "n", lambda name: name)
    fr = f.test_client().get("/dir")
    assert fr.status_code == 308 and fr.location.endswith("/dir/")
    text = str(app.routes.explain("/dir"))
    assert "308 redirect to '/dir/'" in text


def test_slash_redirect_over_real_http(serve):
    base = serve(build_app())
    r = requests.get(f"{base}/dir", allow_redirects=False, timeout=10)
    assert r.status_code == 308 and r.headers["Location"].endswith("/dir/")
    assert requests.get(f"{base}/dir", timeout=10).text == "the directory"


# --- hatchway routes ----------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_routes_lists_and_explains(tmp_path):
    (tmp_path / "myapp.py").write_text(textwrap.dedent("""
        from hatchway.web import App, Blueprint
        app = App(__name__)
        bp = Blueprint("admin", __name__, url_prefix="/admin")

        @bp.route("/users/<int:id>", methods=["GET", "DELETE"])
        def user(id):
            return "u"

        app.register_blueprint(bp)

        @app.get("/dir/")
        def directory():
            return "d"

        @app.get("/<name>")
        def page(name):
            return name
    """))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    hatchway = [sys.executable, "-c", "import sys; from hatchway.cli import main; sys.exit(main())"]
    out = subprocess.run([*hatchway, "routes", "myapp:app"], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["Methods", "Rule", "Endpoint"]
    rows = [line.split("  ") for line in lines[2:]]
    rows = [[c.strip() for c in row if c.strip()] for row in rows]
    assert rows == [
        ["GET, HEAD", "/<name>", "page"],
        ["DELETE, GET, HEAD", "/admin/users/<int:id>", "admin.user"],
        ["GET, HEAD", "/dir/", "directory"],
    ]
    out = subprocess.run([*hatchway, "routes", "myapp:app", "--explain", "/admin/users/7"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("GET /admin/users/7 matched rule '/admin/users/<int:id>'")
    assert "{'id': 7}" in out.stdout
    out = subprocess.run([*hatchway, "routes", "myapp:app", "--explain", "/dir"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert "308 redirect to '/dir/'" in out.stdout
    out = subprocess.run([*hatchway, "routes", "nosuchmodule:app"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "nosuchmodule" in out.stderr
    (tmp_path / "plainwsgi.py").write_text("def app(environ, start_response):\n    return []\n")
    out = subprocess.run([*hatchway, "routes", "plainwsgi:app"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 2 and "not a hatchway.web App" in out.stderr


def test_test_request_context_multipart_and_open_resource(tmp_path):
    import datetime
    import io

    (tmp_path / "schema.sql").write_text("create table t (x);\n")
    app = App("res", root_path=str(tmp_path))
    with app.open_resource("schema.sql") as f:
        assert f.read() == b"create table t (x);\n"
    with pytest.raises(ValueError):
        app.open_resource("schema.sql", "w")
    data = {"note": "n", "f": (io.BytesIO(b"file bytes"), "a.txt", "text/plain")}
    with app.test_request_context("/", method="POST", data=data):
        assert request.form["note"] == "n"
        assert request.files["f"].filename == "a.txt" and request.files["f"].read() == b"file bytes"
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = datetime.timedelta(hours=1)
    assert app.get_send_file_max_age("x.css") == 3600
