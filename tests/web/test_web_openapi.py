"""The OpenAPI 3.1 document, the docs routes and `hatchway openapi`."""

import dataclasses
import enum
import json
import os
import subprocess
import sys
import uuid
from typing import Annotated, Literal, Optional, TypedDict

import msgspec
import pydantic
import pytest
import requests
from openapi_spec_validator import validate
from support import load_module

from hatchway.web import App, Blueprint, Response
from hatchway.web.typed import Cookie, Field, Header, Problem, Query

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Status(enum.Enum):
    open = "open"
    closed = "closed"


@dataclasses.dataclass
class Dimensions:
    width: float
    height: float


@dataclasses.dataclass
class Part:
    name: str
    size: Optional[Dimensions] = None


@dataclasses.dataclass
class Widget:
    """A widget with parts."""

    name: Annotated[str, Field(min_length=1, max_length=40)]
    parts: list[Part]
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    status: Status = Status.open
    children: list["Widget"] = dataclasses.field(default_factory=list)


class Stats(TypedDict):
    count: int
    mean: float


def shop_app():
    """Nested bodies and nested blueprints."""
    app = App("shop", title="Shop", version="2.0")
    api = Blueprint("api", url_prefix="/api")
    admin = Blueprint("admin", url_prefix="/admin")

    @api.get("/widgets/<int:id>", responses={404: Problem})
    def get_widget(id: int, verbose: bool = False) -> Widget:
        """Fetch a widget.

        Returns the whole tree of parts.
        """
        return Widget("w", [])

    @api.post("/widgets", responses={201: Widget})
    def create_widget(widget: Widget, x_request_id: Annotated[str | None, Header()] = None):
        return widget, 201

    @admin.get("/stats")
    def stats(since: Annotated[int, Query(ge=0, description="unix time")] = 0) -> Stats:
        """Statistics."""
        return Stats(count=0, mean=0.0)

    @admin.get("/find")
    def find(ids: Annotated[list[int], Query(ge=1, max_length=3)] = [], flag: Annotated[bool, Query] = False):
        return {"ids": ids}

    @admin.delete("/widgets/<int:id>", deprecated=True)
    def purge(id: int):
        return "", 204

    api.register_blueprint(admin)
    app.register_blueprint(api)
    return app


def mixed_app():
    """msgspec and pydantic types, converters of every kind, untyped views."""

    class Point(msgspec.Struct):
        x: int
        y: int = 0

    class Shape(msgspec.Struct):
        points: list[Point]

    class User(pydantic.BaseModel):
        name: str
        age: int = pydantic.Field(ge=0)
        friends: list["User"] = []

    app = App("mixed")

    @app.post("/shapes")
    def shape(shape: Shape) -> Shape:
        return shape

    @app.post("/users")
    def user(user: User, session: Annotated[str, Cookie()]) -> User:
        return user

    @app.get("/files/<path:rest>")
    def files(rest):
        return rest

    @app.get("/by/<uuid:u>/<any(a, b):kind>/<float:f>/<string(maxlength=8):s>")
    def by(u: uuid.UUID, kind: str, f: float, s: str, mode: Literal["x", "y"] = "x") -> str:
        return "ok"

    @app.route("/both", methods=["GET", "POST"])
    def both():
        return "both"

    @app.get("/raw")
    def raw() -> Response:
        return Response("x")

    return app


def test_shop_document_shape():
    doc = shop_app().openapi()
    validate(doc)
    assert doc["openapi"] == "3.1.0" and doc["info"] == {"title": "Shop", "version": "2.0"}
    assert set(doc["paths"]) == {"/api/widgets/{id}", "/api/widgets", "/api/admin/stats", "/api/admin/find",
                                 "/api/admin/widgets/{id}"}
    find = doc["paths"]["/api/admin/find"]["get"]["parameters"]
    assert find[0] == {"name": "ids", "in": "query", "required": False, "style": "form", "explode": True,
                       "schema": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 3,
                                  "default": []}}
    assert find[1]["schema"] == {"type": "boolean", "default": False}
    get = doc["paths"]["/api/widgets/{id}"]["get"]
    assert get["tags"] == ["api"] and get["summary"] == "Fetch a widget."
    assert get["description"] == "Returns the whole tree of parts."
    assert get["parameters"][0] == {"name": "id", "in": "path", "required": True,
                                    "schema": {"type": "integer", "minimum": 0}}
    assert get["parameters"][1] == {"name": "verbose", "in": "query", "required": False,
                                    "schema": {"type": "boolean", "default": False}}
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Widget"}
    assert get["responses"]["404"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert get["responses"]["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"}
    assert "4XX" in get["responses"]
    post = doc["paths"]["/api/widgets"]["post"]
    assert post["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Widget"}}}}
    assert set(post["responses"]) == {"201", "422", "4XX"}
    assert post["parameters"] == [{"name": "X-Request-Id", "in": "header", "required": False,
                                   "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}]
    stats = doc["paths"]["/api/admin/stats"]["get"]
    assert stats["tags"] == ["api.admin"]
    assert stats["parameters"][0]["schema"] == {"type": "integer", "minimum": 0, "description": "unix time",
                                                "default": 0}
    assert stats["parameters"][0]["description"] == "unix time"
    assert doc["paths"]["/api/admin/widgets/{id}"]["delete"]["deprecated"] is True
    assert "deprecated" not in get
    assert doc["tags"] == [{"name": "api"}, {"name": "api.admin"}]

    schemas = doc["components"]["schemas"]
    widget = schemas["Widget"]
    assert widget["required"] == ["name", "parts"] and widget["description"] == "A widget with parts."
    assert widget["properties"]["name"] == {"type": "string", "minLength": 1, "maxLength": 40}
    assert widget["properties"]["parts"] == {"type": "array", "items": {"$ref": "#/components/schemas/Part"}}
    assert widget["properties"]["children"]["items"] == {"$ref": "#/components/schemas/Widget"}
    assert widget["properties"]["status"] == {"$ref": "#/components/schemas/Status", "default": "open"}
    assert schemas["Status"]["enum"] == ["open", "closed"]
    assert schemas["Part"]["properties"]["size"] == {
        "anyOf": [{"$ref": "#/components/schemas/Dimensions"}, {"type": "null"}], "default": None}
    assert schemas["Stats"]["required"] == ["count", "mean"]
    assert set(schemas["ValidationProblem"]["properties"]) >= {"status", "title", "errors"}
    op_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))


@pytest.mark.slow
def test_mixed_document_validates_and_describes_foreign_types():
    doc = mixed_app().openapi()
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert schemas["Point"]["required"] == ["x"] and "Shape" in schemas
    assert schemas["User"]["properties"]["age"]["minimum"] == 0
    by = doc["paths"]["/by/{u}/{kind}/{f}/{s}"]["get"]
    kinds = {p["name"]: p["schema"] for p in by["parameters"]}
    assert kinds["u"] == {"type": "string", "format": "uuid"}
    assert kinds["kind"] == {"type": "string", "enum": ["a", "b"]}
    assert kinds["f"] == {"type": "number"}
    assert kinds["s"] == {"type": "string", "minLength": 1, "maxLength": 8}
    assert kinds["mode"] == {"enum": ["x", "y"], "default": "x"}
    assert by["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert set(doc["paths"]["/both"]) == {"get", "post"}
    assert "content" not in doc["paths"]["/raw"]["get"]["responses"]["200"]
    # Untyped views get no 422: nothing is validated for them.
    assert "422" not in doc["paths"]["/files/{rest}"]["get"]["responses"]
    cookie = doc["paths"]["/users"]["post"]["parameters"][0]
    assert cookie == {"name": "session", "in": "cookie", "required": True, "schema": {"type": "string"}}


def test_example_app_validates():
    app = load_module("examples/typed_api.py", "examples_typed_api").app
    doc = app.openapi()
    validate(doc)
    assert doc["info"] == {"title": "Notes API", "version": "1.0.0"}
    assert "/openapi.json" not in doc["paths"] and "/docs" not in doc["paths"]
    assert doc["paths"]["/health"]["get"]["deprecated"] is True
    assert set(doc["paths"]["/notes/{id}"]["delete"]["responses"]) == {"204", "404", "4XX"}


def test_served_document_and_offline_docs_page(serve):
    app = shop_app()
    app2 = App("docs", openapi_url="/openapi.json", docs_url="/docs")

    @app2.get("/ping")
    def ping(n: int = 1) -> dict:
        return {"n": n}

    base = serve(app2)
    r = requests.get(base + "/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == app2.openapi() and "/ping" in r.json()["paths"]
    page = requests.get(base + "/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    # Offline: every asset the page loads is served by the app itself, none from another host.
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert asset in page.text
        a = requests.get(base + asset, timeout=10)
        assert a.status_code == 200 and len(a.content) > 1000 and "max-age" in a.headers["Cache-Control"]
    assert '"/openapi.json"' in page.text
    assert requests.get(base + "/docs/assets/index.html", timeout=10).status_code == 404
    assert requests.get(base + "/docs/assets/..%2f..%2fsecret", timeout=10).status_code == 404
    assert "/openapi.json" not in app.openapi()["paths"]


def test_docs_off_by_default_and_docs_alone():
    app = App("off")

    @app.get("/x")
    def x():
        return "x"

    c = app.test_client()
    assert c.get("/openapi.json").status_code == 404 and c.get("/docs").status_code == 404
    only = App("only", docs_url="/reference")
    c = only.test_client()
    assert c.get("/reference").status_code == 200
    assert c.get("/reference/openapi.json").json["openapi"] == "3.1.0"


def test_route_documentation_options():
    app = App("opts")

    @app.get("/a", tags=["alpha"], summary="Short", description="Long", operation_id="getA")
    def a():
        """Ignored in favour of the options."""
        return "a"

    @app.get("/hidden", include_in_schema=False)
    def hidden():
        return "h"

    with pytest.raises(TypeError, match="unknown route option"):
        app.add_url_rule("/b", "b", lambda: "b", colour="red")
    doc = app.openapi()
    validate(doc)
    op = doc["paths"]["/a"]["get"]
    assert (op["tags"], op["summary"], op["description"], op["operationId"]) == (["alpha"], "Short", "Long", "getA")
    assert "/hidden" not in doc["paths"]


@pytest.mark.slow
def test_cli_prints_the_document(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-m", "hatchway", "openapi", "examples.typed_api:app"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    validate(doc)
    assert "/notes/{id}" in doc["paths"]
    bad = subprocess.run([sys.executable, "-m", "hatchway", "openapi", "no_such_module:app"], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "no_such_module" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "notweb.py").write_text("def app(environ, start_response):\n    return []\n")
    bad = subprocess.run([sys.executable, "-m", "hatchway", "openapi", "notweb:app"], cwd=str(tmp_path),
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a hatchway.web App" in bad.stderr


def test_example_api_over_http(serve):
    app = load_module("examples/typed_api.py", "examples_typed_api").app
    base = serve(app)
    r = requests.post(base + "/notes/", json={"title": "hello", "tags": ["a"]}, headers={"X-Author": "ann"},
                      timeout=10)
    assert r.status_code == 201
    note = r.json()
    assert note["title"] == "hello" and note["tags"] == ["a", "by:ann"]
    assert requests.get(f"{base}/notes/{note['id']}", timeout=10).json() == note
    assert note in requests.get(base + "/notes/?tag=a", timeout=10).json()
    r = requests.post(base + "/notes/", json={"title": "", "tags": "x"}, timeout=10)
    assert r.status_code == 422 and [e["loc"] for e in r.json()["errors"]] == [["body", "title"], ["body", "tags"]]
    assert requests.get(base + "/notes/?limit=0", timeout=10).status_code == 422
    assert requests.delete(f"{base}/notes/{note['id']}", timeout=10).status_code == 204
    assert requests.get(f"{base}/notes/{note['id']}", timeout=10).status_code == 404
    assert requests.get(base + "/docs", timeout=10).status_code == 200
