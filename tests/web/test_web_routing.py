import itertools
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from hatchway.web import App, BaseConverter, BuildError, RoutingConflict
from hatchway.web.exceptions import MethodNotAllowed, NotFound, RequestRedirect
from hatchway.web.routing import Router, Rule


def make_app(*rules):
    app = App(__name__)
    for rule, endpoint, methods in rules:
        app.add_url_rule(rule, endpoint, (lambda endpoint=endpoint, **kw: {"endpoint": endpoint, **{k: str(v) for k, v in kw.items()}}), methods=methods)
    return app


def router(*rules):
    r = Router()
    for rule, endpoint, *methods in rules:
        r.add(Rule(rule, endpoint, methods[0] if methods else None))
    r.freeze()
    return r


# ---------------------------------------------------------------- converters

def test_string_converter_length_bounds():
    r = router(("/s/<string(minlength=2, maxlength=4):v>", "s"), ("/l/<string(length=3):v>", "l"))
    assert r.match("GET", "/s/ab").values == {"v": "ab"}
    assert r.match("GET", "/s/abcd").values == {"v": "abcd"}
    for bad in ("/s/a", "/s/abcde", "/l/ab", "/l/abcd"):
        with pytest.raises(NotFound):
            r.match("GET", bad)
    assert r.match("GET", "/l/xyz").values == {"v": "xyz"}


def test_default_converter_rejects_slashes_and_empty():
    r = router(("/u/<name>", "u"))
    assert r.match("GET", "/u/al ice").values == {"name": "al ice"}
    for bad in ("/u/a/b", "/u/"):
        with pytest.raises(NotFound):
            r.match("GET", bad)


def test_int_converter_min_max_signed():
    r = router(
        ("/a/<int:n>", "a"),
        ("/b/<int(min=1, max=10):n>", "b"),
        ("/c/<int(signed=True):n>", "c"),
        ("/d/<int(fixed_digits=4):n>", "d"),
    )
    assert r.match("GET", "/a/42").values == {"n": 42}
    assert type(r.match("GET", "/a/42").values["n"]) is int
    assert r.match("GET", "/b/10").values == {"n": 10}
    assert r.match("GET", "/c/-5").values == {"n": -5}
    assert r.match("GET", "/d/0042").values == {"n": 42}
    for bad in ("/a/-1", "/a/x", "/b/0", "/b/11", "/d/42", "/a/١٢"):
        with pytest.raises(NotFound):
            r.match("GET", bad)


def test_float_uuid_any_path_converters():
    u = uuid.uuid4()
    r = router(
        ("/f/<float:x>", "f"),
        ("/f2/<float(signed=True, max=1.5):x>", "f2"),
        ("/id/<uuid:id>", "id"),
        ("/page/<any(about, help):page>", "page"),
        ("/files/<path:p>", "files"),
    )
    assert r.match("GET", "/f/1.5").values == {"x": 1.5}
    assert r.match("GET", "/f2/-0.5").values == {"x": -0.5}
    with pytest.raises(NotFound):
        r.match("GET", "/f2/2.5")
    with pytest.raises(NotFound):
        r.match("GET", "/f/1")
    assert r.match("GET", f"/id/{u}").values == {"id": u}
    with pytest.raises(NotFound):
        r.match("GET", "/id/not-a-uuid")
    assert r.match("GET", "/page/help").values == {"page": "help"}
    with pytest.raises(NotFound):
        r.match("GET", "/page/other")
    assert r.match("GET", "/files/a/b/c.txt").values == {"p": "a/b/c.txt"}


class ListConverter(BaseConverter):
    regex = r"[a-z]+(?:,[a-z]+)*"

    def to_python(self, value):
        return value.split(",")

    def to_url(self, values):
        return ",".join(values)


def test_custom_converter_to_python_and_to_url():
    app = App(__name__, converters={"list": ListConverter})

    @app.get("/tags/<list:tags>")
    def tags(tags):
        return {"tags": tags}

    c = app.test_client()
    assert c.get("/tags/a,b,c").get_json() == {"tags": ["a", "b", "c"]}
    assert c.get("/tags/A").status_code == 404
    assert app.url_for("tags", tags=["x", "y"]) == "/tags/x,y"


def test_custom_converter_registered_on_routes_map():
    class Upper(BaseConverter):
        def to_python(self, value):
            if not value.isupper():
                raise ValueError(value)
            return value.lower()

    app = App(__name__)
    app.routes.converters["upper"] = Upper

    @app.get("/x/<upper:v>")
    def x(v):
        return v

    c = app.test_client()
    assert c.get("/x/ABC").text == "abc"
    # to_python raising ValueError means "no match", i.e. 404, never 500.
    assert c.get("/x/abc").status_code == 404


def test_unknown_converter_and_bad_rules_raise():
    with pytest.raises(LookupError, match="nope"):
        router(("/a/<nope:x>", "a"))
    with pytest.raises(ValueError, match="start with"):
        router(("a", "a"))
    with pytest.raises(ValueError, match="twice"):
        router(("/a/<x>/<int:x>", "a"))
    with pytest.raises(ValueError, match="malformed"):
        router(("/a/<x", "a"))


# ------------------------------------------------------------------ priority

RULES = [
    ("/users/new", "new"),
    ("/users/<int:id>", "by_id"),
    ("/users/<name>", "by_name"),
    ("/users/<name>/edit", "edit"),
    ("/users/new/edit", "new_edit"),
    ("/files/<path:p>", "files"),
    ("/files/readme", "readme"),
    ("/v<int:n>/x", "versioned"),
    ("/<page>", "page"),
    ("/about", "about"),
]
PATHS = {
    "/users/new": ("new", {}),
    "/users/5": ("by_id", {"id": 5}),
    "/users/bob": ("by_name", {"name": "bob"}),
    "/users/bob/edit": ("edit", {"name": "bob"}),
    "/users/new/edit": ("new_edit", {}),
    "/users/5/edit": ("edit", {"name": "5"}),
    "/files/readme": ("readme", {}),
    "/files/a/b": ("files", {"p": "a/b"}),
    "/v2/x": ("versioned", {"n": 2}),
    "/about": ("about", {}),
    "/contact": ("page", {"page": "contact"}),
}


def test_static_beats_converters_and_int_beats_string():
    r = router(*RULES)
    for path, (endpoint, values) in PATHS.items():
        m = r.match("GET", path)
        assert (m.rule.endpoint, m.values) == (endpoint, values), path


@settings(max_examples=40, deadline=None)
@given(st.permutations(RULES), st.lists(st.sampled_from(["/zz<int:q>", "/users/<int:a>/<int:b>", "/misc/<path:p>"]), unique=True))
def test_priority_ignores_registration_order_and_unrelated_rules(order, unrelated):
    r = router(*order, *[(u, f"unrelated{i}") for i, u in enumerate(unrelated)])
    for path, (endpoint, values) in PATHS.items():
        m = r.match("GET", path)
        assert (m.rule.endpoint, m.values) == (endpoint, values), path


def test_backtracking_when_static_branch_dead_ends():
    r = router(("/a/new/edit", "static"), ("/a/<x>/view", "dyn"))
    assert r.match("GET", "/a/new/view").rule.endpoint == "dyn"
    assert r.match("GET", "/a/new/edit").rule.endpoint == "static"


def test_method_mismatch_falls_through_to_next_rule():
    r = router(("/users/new", "new", ["GET"]), ("/users/<name>", "create", ["POST"]))
    assert r.match("POST", "/users/new").rule.endpoint == "create"
    assert r.match("GET", "/users/new").rule.endpoint == "new"


def test_conflicting_rules_raise_when_added():
    r = Router()
    r.add(Rule("/a/<int:x>", "one"))
    with pytest.raises(RoutingConflict, match="conflicts"):
        r.add(Rule("/a/<int:y>", "two"))
    with pytest.raises(RoutingConflict):
        r.add(Rule("/a/<int:z>", "three", ["GET", "POST"]))
    # Same shape, disjoint methods: fine.
    r.add(Rule("/a/<int:z>", "four", ["POST"]))
    r.add(Rule("/b", "b"))
    with pytest.raises(RoutingConflict):
        r.add(Rule("/b", "b2"))
    r.freeze()
    assert r.match("POST", "/a/3").values == {"z": 3}
    assert r.match("GET", "/a/3").values == {"x": 3}


def test_conflict_through_app_registration():
    app = App(__name__)
    app.add_url_rule("/x/<name>", "a", lambda name: name)
    with pytest.raises(RoutingConflict):
        app.add_url_rule("/x/<other>", "b", lambda other: other)


# ------------------------------------------------------------ 404/405 & auto

def test_404_and_405_with_allow_header():
    app = make_app(("/items", "list", ["GET"]), ("/items", "create", ["POST"]), ("/only-post", "op", ["POST"]))
    c = app.test_client()
    assert c.get("/missing").status_code == 404
    r = c.delete("/items")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    r = c.get("/only-post")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_405_allow_collects_methods_across_rules_of_different_shapes():
    app = make_app(("/n/<int:id>", "get_int", ["GET"]), ("/n/<name>", "put_name", ["PUT"]))
    r = app.test_client().delete("/n/5")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "PUT", "OPTIONS"}


def test_automatic_head_matches_get_without_body():
    app = make_app(("/h", "h", ["GET"]))
    c = app.test_client()
    get = c.get("/h")
    head = c.head("/h")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] != "0"


def test_automatic_options_and_explicit_options():
    app = make_app(("/o", "o", ["GET", "POST"]))

    @app.route("/custom", methods=["GET", "OPTIONS"])
    def custom():
        return "custom options"

    c = app.test_client()
    r = c.options("/o")
    assert r.status_code == 200
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert c.options("/custom").text == "custom options"
    assert c.options("/nothing").status_code == 404


def test_strict_slash_redirect_is_308_and_keeps_method_and_query():
    app = App(__name__)

    @app.route("/projects/", methods=["GET", "POST"])
    def projects():
        return {"method": __import__("hatchway.web", fromlist=["request"]).request.method}

    c = app.test_client()
    r = c.post("/projects?x=1")
    assert r.status_code == 308
    assert r.headers["Location"] == "/projects/?x=1"
    r = c.post("/projects", follow_redirects=True, data={"a": "b"})
    assert r.status_code == 200
    assert r.get_json() == {"method": "POST"}
    assert [h.status_code for h in r.history] == [308]


def test_no_redirect_from_slash_to_bare_rule_unless_opted_out():
    app = App(__name__)
    app.add_url_rule("/about", "about", lambda: "about")
    app.add_url_rule("/loose", "loose", lambda: "loose", strict_slashes=False)
    app.add_url_rule("/loose2/", "loose2", lambda: "loose2", strict_slashes=False)
    c = app.test_client()
    assert c.get("/about/").status_code == 404
    assert c.get("/loose/").text == "loose"
    assert c.get("/loose2").text == "loose2"


def test_non_ascii_paths_route_and_decode():
    app = App(__name__)
    app.add_url_rule("/café", "cafe", lambda: "static")
    app.add_url_rule("/u/<name>", "u", lambda name: name)
    c = app.test_client()
    assert c.get("/caf%C3%A9").text == "static"
    assert c.get("/u/%C3%A9t%C3%A9").text == "été"
    assert app.url_for("cafe") == "/caf%C3%A9"
    assert app.url_for("u", name="été") == "/u/%C3%A9t%C3%A9"


def test_mixed_segments():
    r = router(("/dl/<name>.<ext>", "dl"), ("/v<int:n>/api", "v"), ("/dl/<name>", "plain"))
    assert r.match("GET", "/dl/report.pdf").values == {"name": "report", "ext": "pdf"}
    assert r.match("GET", "/dl/report").rule.endpoint == "plain"
    assert r.match("GET", "/v3/api").values == {"n": 3}


def test_path_converter_in_the_middle():
    r = router(("/repo/<path:name>/blob/<int:line>", "blob"), ("/repo/<path:name>", "repo"))
    m = r.match("GET", "/repo/a/b/blob/7")
    assert (m.rule.endpoint, m.values) == ("blob", {"name": "a/b", "line": 7})
    assert r.match("GET", "/repo/a/b").values == {"name": "a/b"}


def test_rule_defaults_fill_view_args_and_guide_url_building():
    app = App(__name__)

    def page(n):
        return str(n)

    app.add_url_rule("/page/", "page", page, defaults={"n": 1})
    app.add_url_rule("/page/<int:n>", "page", page)
    c = app.test_client()
    assert c.get("/page/").text == "1"
    assert c.get("/page/7").text == "7"
    assert app.url_for("page") == "/page/"
    assert app.url_for("page", n=1) == "/page/"
    assert app.url_for("page", n=3) == "/page/3"


# ------------------------------------------------------------------ url_for

def test_url_for_values_query_anchor_external():
    app = App(__name__)
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")

    @app.get("/users/<int:id>/posts/<slug>")
    def post(id, slug):
        return app.url_for("post", id=id, slug=slug, _external=True)

    @app.get("/files/<path:p>")
    def files(p):
        return p

    @app.get("/obj/<uuid:u>")
    def obj(u):
        return str(u)

    assert app.url_for("post", id=3, slug="hi there") == "/users/3/posts/hi%20there"
    assert app.url_for("post", id=3, slug="x", page=2, tag=["a", "b"]) == "/users/3/posts/x?page=2&tag=a&tag=b"
    assert app.url_for("post", id=3, slug="x", _anchor="top") == "/users/3/posts/x#top"
    assert app.url_for("files", p="a/b c") == "/files/a/b%20c"
    assert app.url_for("obj", u=uid) == f"/obj/{uid}"
    c = app.test_client(base_url="https://example.test")
    assert c.get("/users/3/posts/x").text == "https://example.test/users/3/posts/x"
    with pytest.raises(BuildError, match="needs slug"):
        app.url_for("post", id=3)
    with pytest.raises(BuildError, match="no endpoint"):
        app.url_for("nope")
    with pytest.raises(RuntimeError, match="SERVER_NAME"):
        app.url_for("post", id=1, slug="s", _external=True)
    app.config["SERVER_NAME"] = "api.example"
    assert app.url_for("post", id=1, slug="s", _external=True) == "http://api.example/users/1/posts/s"


def test_url_for_rejects_values_the_converter_refuses():
    app = App(__name__)
    app.add_url_rule("/p/<any(a, b):x>", "p", lambda x: x)
    app.add_url_rule("/n/<int:n>", "n", lambda n: n)
    assert app.url_for("p", x="a") == "/p/a"
    with pytest.raises(BuildError):
        app.url_for("p", x="c")
    with pytest.raises(BuildError):
        app.url_for("n", n=-1)


# ------------------------------------------------------------------ explain

def test_explain_names_the_rule_and_says_why_not():
    app = make_app(("/users/<int:id>", "user", ["GET"]), ("/users/new", "new", ["GET"]), ("/admin", "admin", ["POST"]))
    ex = app.routes.explain("/users/5")
    assert ex.matched and ex.rule.endpoint == "user" and ex.values == {"id": 5}
    text = str(ex)
    assert "'/users/<int:id>'" in text and "matched" in text
    assert "segment 2 is '5', rule needs 'new'" in text
    ex = app.routes.explain("/users/abc")
    assert not ex.matched
    assert "404" in str(ex) and "does not fit <id>" in str(ex)
    ex = app.routes.explain("/admin")
    assert "405" in str(ex) and "method GET is not in POST" in str(ex)
    app = make_app(("/u/<name>", "by_name", ["GET"]), ("/u/me", "me", ["GET"]))
    ex = app.routes.explain("/u/me")
    assert ex.rule.endpoint == "me"
    assert "'/u/<name>' -> 'by_name': not tried: the static table answered the exact path" in str(ex)


# --------------------------------------------------------------- flat cost

class CountingInt(BaseConverter):
    regex = r"\d+"
    calls = 0

    def to_python(self, value):
        CountingInt.calls += 1
        return int(value)


@pytest.mark.parametrize("n", [10, 1000])
def test_match_work_does_not_grow_with_rule_count(n):
    r = Router({"cint": CountingInt})
    for i in range(n):
        r.add(Rule(f"/r{i}/<cint:id>", f"r{i}"))
        r.add(Rule(f"/s{i}", f"s{i}"))
    r.freeze()
    CountingInt.calls = 0
    assert r.match("GET", f"/r{n - 1}/5").rule.endpoint == f"r{n - 1}"
    assert r.match("GET", "/r0/5").rule.endpoint == "r0"
    # One conversion per match, whether the table has 10 rules or 1000.
    assert CountingInt.calls == 2
    assert r.match("GET", f"/s{n - 1}").rule.endpoint == f"s{n - 1}"
    assert len(r.static) == n


def test_match_results_are_consistent_over_many_rules():
    r = Router()
    for i, j in itertools.product(range(20), range(5)):
        r.add(Rule(f"/a{i}/b{j}/<int:id>", f"e{i}_{j}"))
    r.freeze()
    for i, j in itertools.product(range(20), range(5)):
        m = r.match("GET", f"/a{i}/b{j}/{i * j}")
        assert m.rule.endpoint == f"e{i}_{j}" and m.values == {"id": i * j}
    with pytest.raises(MethodNotAllowed):
        r.match("POST", "/a1/b1/1")
    r2 = router(("/x/", "x"))
    with pytest.raises(RequestRedirect) as e:
        r2.match("GET", "/x")
    assert e.value.new_url == "/x/"


def test_routes_frozen_after_first_request():
    app = App(__name__)
    app.add_url_rule("/", "index", lambda: "ok")
    c = app.test_client()
    assert c.get("/").text == "ok"
    with pytest.raises(RuntimeError, match="after .* started handling requests"):
        app.add_url_rule("/late", "late", lambda: "late")
    with pytest.raises(RuntimeError, match="started handling requests"):
        app.route("/late2")(lambda: "x")
    with pytest.raises(RuntimeError, match="started handling requests"):
        app.before_request(lambda: None)
