import pytest

from hatchway.web import App, Blueprint, abort, request


def build():
    app = App(__name__)
    events = []

    api = Blueprint("api", __name__, url_prefix="/api")

    @api.before_request
    def api_before():
        events.append(("api.before", request.endpoint))

    @api.after_request
    def api_after(resp):
        resp.headers["X-Api"] = "1"
        return resp

    @api.teardown_request
    def api_teardown(exc):
        events.append(("api.teardown", request.endpoint))

    @api.errorhandler(404)
    def api_404(e):
        return {"api": "missing"}, 404

    @api.get("/")
    def index():
        return {"where": "api.index", "url": request.url_for(".item", id=1)}

    @api.get("/items/<int:id>")
    def item(id):
        if id == 0:
            abort(404)
        return {"id": id, "bp": request.blueprint}

    v2 = Blueprint("v2", __name__, url_prefix="/v2")

    @v2.before_request
    def v2_before():
        events.append(("v2.before", request.endpoint))

    @v2.get("/things")
    def things():
        return {"bps": request.blueprints, "self": request.url_for(".things")}

    api.register_blueprint(v2)

    @app.before_request
    def app_before():
        events.append(("app.before", request.endpoint))

    @app.get("/")
    def home():
        return "home"

    app.register_blueprint(api)
    return app, events


def test_prefix_and_endpoint_names():
    app, _ = build()
    c = app.test_client()
    assert c.get("/api/").get_json() == {"where": "api.index", "url": "/api/items/1"}
    assert c.get("/api/items/3").get_json() == {"id": 3, "bp": "api"}
    assert app.url_for("api.item", id=5) == "/api/items/5"
    assert app.url_for("api.v2.things") == "/api/v2/things"
    assert {r.endpoint for r in app.routes} == {"home", "api.index", "api.item", "api.v2.things"}


def test_blueprint_hooks_apply_only_to_its_endpoints():
    app, events = build()
    c = app.test_client()
    r = c.get("/")
    assert "X-Api" not in r.headers
    assert events == [("app.before", "home")]
    events.clear()
    r = c.get("/api/items/2")
    assert r.headers["X-Api"] == "1"
    assert events == [("app.before", "api.item"), ("api.before", "api.item"), ("api.teardown", "api.item")]


def test_nested_blueprint_runs_parent_hooks_outer_first():
    app, events = build()
    r = app.test_client().get("/api/v2/things")
    assert r.get_json() == {"bps": ["api.v2", "api"], "self": "/api/v2/things"}
    assert r.headers["X-Api"] == "1"
    assert events == [
        ("app.before", "api.v2.things"), ("api.before", "api.v2.things"),
        ("v2.before", "api.v2.things"), ("api.teardown", "api.v2.things"),
    ]


def test_blueprint_error_handler_is_scoped():
    app, _ = build()
    c = app.test_client()
    assert c.get("/api/items/0").get_json() == {"api": "missing"}
    # An unmatched URL belongs to no blueprint: the app's default 404.
    assert c.get("/api/nope").get_json()["title"] == "Not Found"


def test_register_twice_with_different_prefixes_and_names():
    app = App(__name__)
    bp = Blueprint("files", __name__)
    seen = []
    bp.before_request(lambda: seen.append(request.blueprint))

    @bp.get("/<path:name>")
    def get_file(name):
        return {"name": name, "bp": request.blueprint, "self": request.url_for(".get_file", name=name)}

    app.register_blueprint(bp, url_prefix="/public")
    app.register_blueprint(bp, url_prefix="/private", name="private_files")
    c = app.test_client()
    assert c.get("/public/a/b").get_json() == {"name": "a/b", "bp": "files", "self": "/public/a/b"}
    assert c.get("/private/x").get_json() == {"name": "x", "bp": "private_files", "self": "/private/x"}
    assert seen == ["files", "private_files"]
    assert app.url_for("private_files.get_file", name="y") == "/private/y"


def test_registering_same_name_twice_is_an_error():
    app = App(__name__)
    bp = Blueprint("bp", __name__)
    bp.add_url_rule("/", "i", lambda: "i")
    app.register_blueprint(bp, url_prefix="/a")
    with pytest.raises(ValueError, match="different name"):
        app.register_blueprint(bp, url_prefix="/b")
    with pytest.raises(RuntimeError, match="before registering"):
        bp.add_url_rule("/late", "late", lambda: "late")


def test_blueprint_app_wide_hooks():
    app = App(__name__)
    bp = Blueprint("bp", __name__)

    @bp.before_app_request
    def everywhere():
        request.g.tag = "tagged"

    @bp.app_errorhandler(404)
    def nf(e):
        return "bp-wide 404", 404

    app.register_blueprint(bp)
    app.add_url_rule("/", "home", lambda: request.g.tag)
    c = app.test_client()
    assert c.get("/").text == "tagged"
    assert c.get("/missing").text == "bp-wide 404"


def test_blueprint_names_are_validated():
    with pytest.raises(ValueError):
        Blueprint("a.b", __name__)
    bp = Blueprint("x", __name__)
    with pytest.raises(ValueError):
        bp.add_url_rule("/", "a.b", lambda: "")
