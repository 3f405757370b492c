"""Typed views: parameters bound from annotations, every failure in one 422."""

import dataclasses
import datetime
import enum
import typing
import uuid
from typing import Annotated, Literal, Optional, TypedDict

import msgspec
import pytest
import requests

from hatchway.web import App, Blueprint, Response
from hatchway.web.typed import Body, Cookie, Field, Header, Path, Query, RequestValidationError
from hatchway.web.typed import binder as binder_module


def locs(resp):
    assert resp.status_code == 422, (resp.status_code, resp.text)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    assert body["status"] == 422 and body["title"] == "Unprocessable Entity"
    for e in body["errors"]:
        assert isinstance(e["reason"], str) and e["reason"]
    return [e["loc"] for e in body["errors"]]


class Color(enum.Enum):
    red = "red"
    blue = "blue"


@dataclasses.dataclass
class Line:
    sku: str
    price: float
    qty: int = 1


@dataclasses.dataclass
class Address:
    city: str
    zip: Annotated[str, Field(pattern=r"^[0-9]{5}$")]


@dataclasses.dataclass
class Order:
    customer: str
    lines: list[Line]
    address: Optional[Address] = None
    notes: dict[str, str] = dataclasses.field(default_factory=dict)
    priority: Annotated[int, Field(ge=0, le=9)] = 0


class Tag(TypedDict):
    name: str
    weight: float


class Partial(TypedDict, total=False):
    name: str
    size: int


# ------------------------------------------------------------------ path

def test_path_annotation_must_agree_with_converter():
    app = App("t")
    with pytest.raises(ValueError, match=r"<int:id> with id: int"):
        @app.get("/a/<id>")
        def a(id: int):
            return {}
    with pytest.raises(ValueError, match="IntegerConverter"):
        @app.get("/b/<int:id>")
        def b(id: str):
            return {}
    with pytest.raises(ValueError, match="FloatConverter"):
        @app.get("/c/<float:x>")
        def c(x: int):
            return {}

    @app.get("/ok/<int:id>/<uuid:u>/<float:f>/<name>")
    def ok(id: int, u: uuid.UUID, f: float, name: str):
        return {"id": id, "u": str(u), "f": f, "name": name}

    c_ = app.test_client()
    u = uuid.uuid4()
    assert c_.get(f"/ok/3/{u}/1.5/bob").json == {"id": 3, "u": str(u), "f": 1.5, "name": "bob"}


def test_path_constraints_and_enum():
    app = App("t")

    @app.get("/p/<int:id>")
    def p(id: Annotated[int, Path(ge=10)]):
        return {"id": id}

    @app.get("/color/<name>")
    def color(name: Color):
        return {"color": name.value}

    c = app.test_client()
    assert c.get("/p/12").json == {"id": 12}
    assert locs(c.get("/p/3")) == [["path", "id"]]
    assert c.get("/color/red").json == {"color": "red"}
    assert locs(c.get("/color/green")) == [["path", "name"]]


# ----------------------------------------------------------------- query

def make_query_app():
    app = App("q")

    @app.get("/search")
    def search(
        q: str | None = None,
        limit: int = 10,
        ratio: float = 0.5,
        exact: bool = False,
        tags: list[str] = [],
        ids: list[int] = [],
        since: datetime.datetime | None = None,
        day: datetime.date | None = None,
        token: uuid.UUID | None = None,
        color: Color = Color.red,
        mode: Literal["fast", "slow"] = "fast",
    ):
        return {
            "q": q, "limit": limit, "ratio": ratio, "exact": exact, "tags": tags, "ids": ids,
            "since": since.isoformat() if since else None, "day": str(day) if day else None,
            "token": str(token) if token else None, "color": color.value, "mode": mode,
        }

    @app.get("/need")
    def need(name: str, count: int):
        return {"name": name, "count": count}

    @app.get("/limits")
    def limits(
        page: Annotated[int, Query(ge=1, le=100)] = 1,
        word: Annotated[str, Query(min_length=2, max_length=5, pattern="^[a-z]+$")] = "ab",
        sort_by: Annotated[str, Query(alias="sort-by")] = "name",
        step: Annotated[float, Query(gt=0, lt=1)] = 0.5,
    ):
        return {"page": page, "word": word, "sort_by": sort_by, "step": step}

    return app


def test_query_defaults_and_types():
    c = make_query_app().test_client()
    assert c.get("/search").json == {
        "q": None, "limit": 10, "ratio": 0.5, "exact": False, "tags": [], "ids": [], "since": None,
        "day": None, "token": None, "color": "red", "mode": "fast",
    }
    u = uuid.uuid4()
    got = c.get(f"/search?q=x&limit=5&ratio=2.5&exact=yes&tags=a&tags=b&ids=1&ids=2"
                f"&since=2024-01-02T03:04:05Z&day=2024-02-03&token={u}&color=blue&mode=slow").json
    assert got == {
        "q": "x", "limit": 5, "ratio": 2.5, "exact": True, "tags": ["a", "b"], "ids": [1, 2],
        "since": "2024-01-02T03:04:05+00:00", "day": "2024-02-03", "token": str(u), "color": "blue",
        "mode": "slow",
    }
    for text, value in (("true", True), ("0", False), ("OFF", False), ("on", True)):
        assert c.get(f"/search?exact={text}").json["exact"] is value


def test_query_every_failure_listed():
    c = make_query_app().test_client()
    r = c.get("/search?limit=x&ratio=nan&exact=maybe&ids=1&ids=z&since=yesterday&day=2024-13-01"
              "&token=nope&color=green&mode=medium")
    assert locs(r) == [
        ["query", "limit"], ["query", "ratio"], ["query", "exact"], ["query", "ids", 1],
        ["query", "since"], ["query", "day"], ["query", "token"], ["query", "color"], ["query", "mode"],
    ]
    assert r.get_json()["detail"] == (
        "9 fields failed validation: query.limit, query.ratio, query.exact, query.ids.1, query.since, "
        "query.day, query.token, query.color, query.mode.")
    for ratio in ("inf", "-Infinity", "1e999"):
        assert locs(c.get(f"/search?ratio={ratio}")) == [["query", "ratio"]]


def test_query_required_and_unicode_digits():
    c = make_query_app().test_client()
    assert locs(c.get("/need")) == [["query", "name"], ["query", "count"]]
    assert c.get("/need?name=a&count=7").json == {"name": "a", "count": 7}
    # int() alone would take these; a query integer is ASCII digits.
    assert locs(c.get("/need?name=a&count=%D9%A3")) == [["query", "count"]]
    assert locs(c.get("/need?name=a&count=1_000")) == [["query", "count"]]


def test_query_constraints_and_alias():
    c = make_query_app().test_client()
    assert c.get("/limits?page=100&word=abcde&sort-by=date&step=0.9").json == {
        "page": 100, "word": "abcde", "sort_by": "date", "step": 0.9}
    r = c.get("/limits?page=0&word=a&step=1")
    assert locs(r) == [["query", "page"], ["query", "word"], ["query", "step"]]
    reasons = [e["reason"] for e in r.get_json()["errors"]]
    assert reasons == ["must be >= 1", "must have at least 2 characters", "must be < 1"]
    assert locs(c.get("/limits?page=101&word=abcdef")) == [["query", "page"], ["query", "word"]]
    assert locs(c.get("/limits?word=ABC")) == [["query", "word"]]
    # The alias is the wire name; the Python name is not read.
    assert c.get("/limits?sort_by=zzz").json["sort_by"] == "name"


# -------------------------------------------------------- headers, cookies

def test_headers_and_cookies():
    app = App("h")

    @app.get("/h")
    def h(
        x_token: Annotated[str, Header()],
        api_key: Annotated[str, Header("X-Api-Key")],
        x_count: Annotated[int, Header()] = 0,
        accept_language: Annotated[list[str], Header()] = [],
        session: Annotated[str | None, Cookie()] = None,
        theme: Annotated[Color, Cookie()] = Color.red,
    ):
        return {"x_token": x_token, "api_key": api_key, "x_count": x_count,
                "langs": accept_language, "session": session, "theme": theme.value}

    c = app.test_client()
    assert locs(c.get("/h")) == [["header", "X-Token"], ["header", "X-Api-Key"]]
    c.set_cookie("session", "s1")
    c.set_cookie("theme", "blue")
    got = c.get("/h", headers={"X-Token": "t", "X-Api-Key": "k", "X-Count": "4",
                               "Accept-Language": "en, fr"}).json
    assert got == {"x_token": "t", "api_key": "k", "x_count": 4, "langs": ["en", "fr"],
                   "session": "s1", "theme": "blue"}
    c.set_cookie("theme", "pink")
    assert locs(c.get("/h", headers={"X-Token": "t", "X-Api-Key": "k", "X-Count": "many"})) == [
        ["header", "X-Count"], ["cookie", "theme"]]


# ------------------------------------------------------------------ body

def make_body_app():
    app = App("b", config={"MAX_JSON_SIZE": 2000, "MAX_JSON_DEPTH": 8})

    @app.post("/orders")
    def create(order: Order):
        assert isinstance(order, Order) and all(isinstance(x, Line) for x in order.lines)
        return order, 201

    @app.post("/tags")
    def tags(tag: Tag, request):
        assert request.method == "POST"
        return {"tag": tag, "type": type(tag).__name__}

    @app.post("/partial")
    def partial(p: Partial):
        return p

    @app.post("/many")
    def many(items: list[Line]):
        return {"n": len(items), "total": sum(i.price * i.qty for i in items)}

    @app.post("/maybe")
    def maybe(line: Line | None = None):
        return {"line": line}

    @app.post("/two")
    def two(line: Line, tag: Tag):
        return {"line": line, "tag": tag}

    @app.post("/raw")
    def raw(data: Annotated[dict[str, int], Body()]):
        return data

    return app


def test_nested_dataclass_body():
    c = make_body_app().test_client()
    order = {"customer": "ann", "lines": [{"sku": "a", "price": 2}, {"sku": "b", "price": 1.5, "qty": 3}],
             "address": {"city": "Oslo", "zip": "01234"}, "notes": {"door": "red"}, "priority": 2}
    r = c.post("/orders", json=order)
    assert r.status_code == 201
    assert r.json == {"customer": "ann", "lines": [{"sku": "a", "price": 2.0, "qty": 1},
                      {"sku": "b", "price": 1.5, "qty": 3}], "address": {"city": "Oslo", "zip": "01234"},
                      "notes": {"door": "red"}, "priority": 2}
    assert c.post("/orders", json={"customer": "x", "lines": []}).json["address"] is None


def test_body_errors_list_every_field_with_location():
    c = make_body_app().test_client()
    bad = {"lines": [{"sku": "a", "price": 1}, {"sku": 1, "price": "x"}, {"price": 2, "qty": 1.5}, 7],
           "address": {"city": None, "zip": "12"}, "notes": {"a": 1}, "priority": 10}
    assert locs(c.post("/orders", json=bad)) == [
        ["body", "customer"],
        ["body", "lines", 1, "sku"], ["body", "lines", 1, "price"],
        ["body", "lines", 2, "sku"], ["body", "lines", 2, "qty"],
        ["body", "lines", 3],
        ["body", "address", "city"], ["body", "address", "zip"],
        ["body", "notes", "a"],
        ["body", "priority"],
    ]
    assert locs(c.post("/orders", json=[1, 2])) == [["body"]]
    # JSON Schema integers include 2.0; strings and booleans are not numbers.
    assert c.post("/many", json=[{"sku": "a", "price": 1, "qty": 2.0}]).json == {"n": 1, "total": 2.0}
    assert locs(c.post("/many", json=[{"sku": "a", "price": True}, {"sku": "b", "price": "1"}])) == [
        ["body", 0, "price"], ["body", 1, "price"]]
    # 1e999 parses as inf, which is no JSON number and could not be answered.
    r = c.post("/many", data='[{"sku": "a", "price": 1e999}, {"sku": "b", "price": 1, "qty": 1e999}]',
               content_type="application/json")
    assert locs(r) == [["body", 0, "price"], ["body", 1, "qty"]]
    assert locs(c.post("/raw", data='{"a": -1e999}', content_type="application/json")) == [["body", "a"]]


def test_typeddict_bodies_and_optional_body():
    c = make_body_app().test_client()
    assert c.post("/tags", json={"name": "n", "weight": 1}).json == {"tag": {"name": "n", "weight": 1.0},
                                                                      "type": "dict"}
    assert locs(c.post("/tags", json={"weight": "w"})) == [["body", "name"], ["body", "weight"]]
    assert c.post("/partial", json={}).json == {}
    assert c.post("/partial", json={"size": 3}).json == {"size": 3}
    assert locs(c.post("/partial", json={"size": "3"})) == [["body", "size"]]
    assert c.post("/maybe").json == {"line": None}
    assert c.post("/maybe", json={"sku": "s", "price": 1}).json == {"line": {"sku": "s", "price": 1.0, "qty": 1}}
    assert locs(c.post("/maybe", json={"sku": "s"})) == [["body", "price"]]
    assert c.post("/raw", json={"a": 1}).json == {"a": 1}
    assert locs(c.post("/raw", json={"a": "1"})) == [["body", "a"]]


def test_two_body_parameters_are_embedded():
    c = make_body_app().test_client()
    r = c.post("/two", json={"line": {"sku": "a", "price": 1}, "tag": {"name": "t", "weight": 2}})
    assert r.json == {"line": {"sku": "a", "price": 1.0, "qty": 1}, "tag": {"name": "t", "weight": 2.0}}
    assert locs(c.post("/two", json={"line": {"sku": "a"}})) == [["body", "line", "price"], ["body", "tag"]]


def test_body_limits_still_apply():
    c = make_body_app().test_client()
    r = c.post("/orders", data='{"customer": "a", "lines": []}', content_type="text/plain")
    assert r.status_code == 415 and r.mimetype == "application/problem+json"
    assert c.post("/orders", data="{", content_type="application/json").status_code == 400
    assert c.post("/orders", data="", content_type="application/json").status_code == 400
    big = {"customer": "x" * 3000, "lines": []}
    assert c.post("/orders", json=big).status_code == 413
    deep = {"customer": "a", "lines": [], "notes": {"a": [[[[[[[[[["x"]]]]]]]]]]}}
    r = c.post("/orders", json=deep)
    assert r.status_code == 400 and "depth" in r.get_json()["detail"]


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


class Box(msgspec.Struct, rename="camel"):
    item_list: list[Item]
    size: Annotated[int, msgspec.Meta(ge=1)]
    parent: Optional["Box"] = None


def test_msgspec_struct_body_and_response():
    app = App("m")

    @app.post("/items")
    def create(item: Item) -> Item:
        assert isinstance(item, Item)
        return item, 201

    @app.post("/boxes")
    def box(box: Box):
        return {"n": len(box.item_list), "size": box.size}

    c = app.test_client()
    r = c.post("/items", json={"name": "a", "price": 2})
    assert r.status_code == 201 and r.json == {"name": "a", "price": 2.0, "tags": []}
    assert locs(c.post("/items", json={"name": "a", "price": "x"})) == [["body", "price"]]
    assert locs(c.post("/items", json={"name": "a", "price": 1, "tags": ["a", 2]})) == [["body", "tags", 1]]
    # msgspec stops at the first error; the field walk finds the others.
    assert locs(c.post("/items", json={"name": 1, "price": "x", "tags": [3]})) == [
        ["body", "name"], ["body", "price"], ["body", "tags", 0]]
    assert c.post("/boxes", json={"itemList": [{"name": "a", "price": 1}], "size": 2}).json == {"n": 1, "size": 2}
    # A constraint only msgspec knows (Meta) is still reported, with the walk's findings.
    assert locs(c.post("/boxes", json={"itemList": [{"name": "a"}], "size": 0})) == [
        ["body", "itemList", 0, "price"], ["body", "size"]]
    assert locs(c.post("/boxes", json={"itemList": [], "size": 1, "parent": {"itemList": 1, "size": 1}})) == [
        ["body", "parent", "itemList"]]


def test_pydantic_model_body_and_response():
    import pydantic

    class Item(pydantic.BaseModel):
        name: str
        price: float = pydantic.Field(gt=0)

    app = App("p")

    @app.post("/items")
    def create(item: Item):
        assert isinstance(item, Item)
        return item

    c = app.test_client()
    assert c.post("/items", json={"name": "a", "price": 2}).json == {"name": "a", "price": 2.0}
    assert locs(c.post("/items", json={"price": 0})) == [["body", "name"], ["body", "price"]]


# ------------------------------------------------- request, plain views, hooks

def test_request_alongside_and_plain_views_untouched():
    app = App("r")

    @app.get("/typed/<int:id>")
    def typed(id: int, request, q: str = "-"):
        return {"id": id, "q": q, "path": request.path}

    def plain(id):
        return {"id": id}

    app.add_url_rule("/plain/<int:id>", "plain", plain)

    @app.get("/only-path/<int:id>")
    def only_path(id: int) -> dict:
        return {"id": id}

    app.startup()
    assert app._targets["plain"].view is plain
    # Annotations the router already satisfies need no binder either.
    assert app._targets["only_path"].view is only_path
    assert app._targets["typed"].view is not typed and app._targets["typed"].view.__wrapped__ is typed
    c = app.test_client()
    assert c.get("/typed/1?q=z").json == {"id": 1, "q": "z", "path": "/typed/1"}
    assert c.get("/plain/2?q=z").json == {"id": 2}
    assert c.get("/only-path/3").json == {"id": 3}


def test_nothing_introspected_per_request(monkeypatch):
    app = make_query_app()
    app.startup()

    def boom(*a, **k):
        raise AssertionError("introspection during a request")

    import inspect as inspect_module
    monkeypatch.setattr(binder_module, "analyse", boom)
    monkeypatch.setattr(inspect_module, "signature", boom)
    monkeypatch.setattr(typing, "get_type_hints", boom)
    c = app.test_client()
    assert c.get("/need?name=a&count=1").json == {"name": "a", "count": 1}
    assert c.get("/need").status_code == 422


def test_forward_references_resolve_at_startup():
    app = App("fwd")

    @app.post("/later")
    def later(x: "DefinedLater"):  # noqa: F821 - defined after the route, resolved at startup
        return x

    globals()["DefinedLater"] = dataclasses.make_dataclass("DefinedLater", [("a", int)])
    try:
        c = app.test_client()
        assert c.post("/later", json={"a": 1}).json == {"a": 1}
        assert locs(c.post("/later", json={"a": "x"})) == [["body", "a"]]
    finally:
        del globals()["DefinedLater"]


def test_unsupported_query_type_raises_at_registration():
    app = App("u")
    with pytest.raises(ValueError, match="cannot read a"):
        @app.get("/x")
        def x(when: Annotated[complex, Query()] = 1j):
            return {}


def test_422_goes_through_error_handlers_and_blueprints():
    app = App("e")
    bp = Blueprint("api", url_prefix="/api")

    @bp.get("/n")
    def n(count: int):
        return {"count": count}

    @bp.errorhandler(422)
    def handle(exc):
        assert isinstance(exc, RequestValidationError)
        return {"custom": exc.errors}, 422

    app.register_blueprint(bp)
    c = app.test_client()
    assert c.get("/api/n?count=2").json == {"count": 2}
    r = c.get("/api/n?count=x")
    assert r.status_code == 422 and r.json == {"custom": [{"loc": ["query", "count"], "reason": "expected an integer"}]}


def test_typed_return_values():
    app = App("ret")

    @app.get("/dc")
    def dc():
        return Line("a", 1.5)

    @app.get("/dc-status")
    def dc_status():
        return Order("c", [Line("a", 1)], Address("Oslo", "01234")), 202, {"X-A": "1"}

    @app.get("/td")
    def td() -> Tag:
        return Tag(name="n", weight=1.0)

    @app.get("/enum")
    def enum_in_dataclass():
        @dataclasses.dataclass
        class C:
            color: Color
            when: datetime.date
        return C(Color.blue, datetime.date(2024, 1, 2))

    c = app.test_client()
    assert c.get("/dc").json == {"sku": "a", "price": 1.5, "qty": 1}
    r = c.get("/dc-status")
    assert r.status_code == 202 and r.headers["X-A"] == "1"
    assert r.json["lines"] == [{"sku": "a", "price": 1, "qty": 1}] and r.json["address"]["city"] == "Oslo"
    assert c.get("/td").json == {"name": "n", "weight": 1.0}
    assert c.get("/enum").json == {"color": "blue", "when": "2024-01-02"}


@pytest.mark.slow
def test_over_real_http(serve):
    app = make_body_app()
    query_app = make_query_app()
    base = serve(app)
    r = requests.post(base + "/orders", json={"customer": 1, "lines": [{"sku": "a"}]}, timeout=10)
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "customer"], ["body", "lines", 0, "price"]]
    r = requests.post(base + "/orders", data="{}", headers={"Content-Type": "text/csv"}, timeout=10)
    assert r.status_code == 415
    qbase = serve(query_app)
    assert requests.get(qbase + "/search?tags=a&tags=b&limit=3", timeout=10).json()["tags"] == ["a", "b"]
    r = requests.get(qbase + "/need?count=x", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 422 and r.headers["Content-Type"].startswith("text/html")
    assert "2 fields failed validation: query.name, query.count." in r.text


def test_binder_source_is_specialised():
    app = make_query_app()
    app.startup()
    src = app._targets["need"].view.__source__
    # One generated function per view: the parameter names are in the code, no loops over specs.
    assert "'name'" in src and "'count'" in src and "for " not in src
    assert isinstance(Response, type)


def test_url_variables_named_like_binder_locals():
    app = App("names")

    @app.get("/n/<int:e>/<int:view>/<int:v0>/<path>")
    def names(e: int, view: int, v0: int, path: str, a: int = 1):
        return {"e": e, "view": view, "v0": v0, "path": path, "a": a}

    @app.get("/m/<int:x>")
    @app.get("/m/<int:x>/<int:y>")
    def two_rules(x: int, y: int = 0, q: int = 1):
        return {"x": x, "y": y, "q": q}

    c = app.test_client()
    assert c.get("/n/1/2/3/p?a=4").json == {"e": 1, "view": 2, "v0": 3, "path": "p", "a": 4}
    assert c.get("/m/1").json == {"x": 1, "y": 0, "q": 1}
    assert c.get("/m/1/2?q=5").json == {"x": 1, "y": 2, "q": 5}
    assert locs(c.get("/m/1?q=z")) == [["query", "q"]]


def test_list_query_constraints_split_between_list_and_items():
    app = App("lists")

    @app.get("/find")
    def find(ids: Annotated[list[int], Query(ge=1, max_length=3)] = [], flag: Annotated[bool, Query] = False):
        return {"ids": ids, "flag": flag}

    c = app.test_client()
    assert c.get("/find?ids=1&ids=2&flag=y").json == {"ids": [1, 2], "flag": True}
    assert locs(c.get("/find?ids=0&ids=x&ids=3")) == [["query", "ids", 0], ["query", "ids", 1]]
    r = c.get("/find?ids=1&ids=2&ids=3&ids=4")
    assert locs(r) == [["query", "ids"]] and r.get_json()["errors"][0]["reason"] == "must have at most 3 items"


def test_collection_query_parameters_keep_their_type_and_defaults_are_not_shared():
    app = App("coll")

    @app.get("/c")
    def coll(tags: set[str] = set(), pair: tuple[int, ...] = (), names: list[str] = []):
        names.append("mutated")  # must not leak into the next request's default
        return {"tags": sorted(tags), "tags_type": type(tags).__name__, "pair": list(pair),
                "pair_type": type(pair).__name__, "names": names}

    c = app.test_client()
    assert c.get("/c?tags=b&tags=a&tags=b&pair=1&pair=2").json == {
        "tags": ["a", "b"], "tags_type": "set", "pair": [1, 2], "pair_type": "tuple", "names": ["mutated"]}
    assert c.get("/c").json["names"] == ["mutated"]
    assert c.get("/c").json["names"] == ["mutated"]
