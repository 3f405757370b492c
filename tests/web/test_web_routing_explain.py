"""``Router.explain`` tells what the real matcher did (a traced run of it), rule by rule.

The first tests are cases where the old explainer (``Rule.diagnose``, a second
matcher) disagreed with the real one; the property test checks every reason
against a router holding that rule alone.
"""

import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hatchway.web import App, BaseConverter
from hatchway.web.exceptions import MethodNotAllowed, NotFound, RequestRedirect
from hatchway.web.routing import Router, Rule


class Picky(BaseConverter):
    """A path-like converter whose to_python refuses one value."""

    regex = "[^/].*?"
    part_isolating = False

    def to_python(self, value):
        if value == "bad":
            raise ValueError(value)
        return value


def table(*rules, converters=None):
    r = Router(converters)
    for rule, kw in rules:
        r.add(Rule(rule, rule, **kw))
    r.freeze()
    return r


def reason(ex, rule):
    return next(why for r, why in ex.reasons if r.rule == rule and why)


def outcome_of(r, method, path):
    try:
        return r.match(method, path).rule.rule
    except MethodNotAllowed:
        return 405
    except RequestRedirect as e:
        return ("308", e.new_url)
    except NotFound:
        return 404


# ------------------------------------------------ where Rule.diagnose was wrong

def test_converter_tail_with_literal_after_it():
    # diagnose matched <path:p> against the whole remainder and ignored "/edit": "path fits", though it was a 404.
    r = table(("/<path:p>/edit", {}))
    ex = r.explain("/a/b")
    assert "404" in ex.outcome
    assert reason(ex, "/<path:p>/edit") == "remainder 'a/b' does not fit '<p>/edit' (<p> PathConverter)"
    ex = r.explain("/a/b/edit")
    assert ex.values == {"p": "a/b"} and reason(ex, "/<path:p>/edit") == "chosen"


def test_converter_refusing_a_value_is_explained_not_raised():
    # diagnose called to_python unguarded: explain() raised ValueError. The real matcher skips the rule,
    # then its trailing-slash probe finds "/f/bad/" (which to_python accepts) and redirects.
    r = table(("/f/<picky:p>", {}), converters={"picky": Picky})
    assert outcome_of(r, "GET", "/f/bad") == ("308", "/f/bad/")
    ex = r.explain("/f/bad")
    assert "308 redirect to '/f/bad/'" in str(ex)
    walk = ex.walks[0]
    assert any(e[0] == "convert" and e[-1] == "rejected" for e in walk.events)
    assert reason(ex, "/f/<picky:p>") == "'/f/bad/' (the path with its trailing slash) fits: the router redirects there (308)"


def test_strict_slash_redirect_below_a_converter():
    # diagnose said "path has 2 segment(s), rule needs 3" for the very rule the request is redirected to.
    r = table(("/u/<x>/", {}))
    ex = r.explain("/u/5")
    assert ex.outcome == "308 redirect to '/u/5/' (strict slashes)"
    assert "fits: the router redirects there (308)" in reason(ex, "/u/<x>/")
    # With a 405 from another rule at the same path, the router never probes the slash.
    r = table(("/u/<x>/", {}), ("/u/<int:x>", {"methods": ["POST"]}))
    ex = r.explain("/u/5")
    assert ex.outcome.startswith("405")
    assert reason(ex, "/u/<x>/") == "the path ends after segment 2, without this rule's trailing slash"
    assert reason(ex, "/u/<int:x>") == "path fits but method GET is not in POST"


def test_order_between_converters_is_the_real_reason():
    # diagnose gave "literal text beats converters" where no literal text was involved.
    r = table(("/x/<name>", {}), ("/x/<int:n>", {}))
    ex = r.explain("/x/5")
    assert ex.rule.rule == "/x/<int:n>"
    assert reason(ex, "/x/<name>") == (
        "not tried: '/x/<int:n>' matched first, through '<n>' at segment 2 "
        "(<n> IntegerConverter has priority over <name> StringConverter)"
    )
    ex = r.explain("/x/five")
    assert reason(ex, "/x/<int:n>") == "segment 2 'five' does not fit <n> (IntegerConverter)"
    assert reason(ex, "/x/<name>") == "chosen"


def test_methods_sharing_a_shape():
    # diagnose: "path fits too, but '/x' has priority (literal text beats converters)" about two identical paths.
    r = Router()
    r.add(Rule("/x", "get_x"))
    r.add(Rule("/x", "head_x", ["HEAD"]))
    ex = r.explain("/x", "HEAD")
    assert ex.rule.endpoint == "head_x"
    reasons = {rule.endpoint: why for rule, why in ex.reasons}
    assert reasons["head_x"] == "chosen (exact path, from the static table)"
    assert reasons["get_x"] == "same path; for HEAD it belongs to '/x' (endpoint 'head_x')"


def test_slash_redirect_stops_the_walk():
    r = table(("/dir/", {}), ("/<name>", {}), ("/only-post/", {"methods": ["POST"]}))
    ex = r.explain("/dir")
    assert reason(ex, "/dir/").endswith("the matcher stops and the router redirects (308)")
    assert reason(ex, "/<name>") == "not tried: the matcher stopped at '/dir/' to redirect to its trailing slash"
    ex = r.explain("/only-post")
    assert ex.rule.rule == "/<name>"
    assert reason(ex, "/only-post/") == "the path lacks this rule's trailing slash, and method GET is not in its methods"
    ex = r.explain("/only-post", "POST")
    assert ex.outcome == "308 redirect to '/only-post/' (strict slashes)"


def test_non_strict_slashes_both_ways():
    r = table(("/about", {"strict_slashes": False}), ("/team/", {"strict_slashes": False}))
    ex = r.explain("/about/")
    assert ex.rule.rule == "/about"
    assert reason(ex, "/about") == (
        "chosen: '/about' (the path without its trailing slash) fits and the rule has strict_slashes=False"
    )
    ex = r.explain("/team")
    assert ex.rule.rule == "/team/" and reason(ex, "/team/") == "chosen"


def test_explain_leaves_the_router_untouched():
    app = App(__name__)
    app.add_url_rule("/u/<int:id>", "u", lambda id: str(id))
    app.add_url_rule("/about", "about", lambda: "about")
    static, root = app.routes.static, app.routes._root
    app.routes.explain("/u/3")
    app.routes.explain("/about")
    assert app.routes.static is static and type(static) is dict and app.routes._root is root
    c = app.test_client()
    assert c.get("/u/3").text == "3" and c.get("/about").text == "about"


# ---------------------------------------- every reason agrees with the matcher

SEGMENTS = ["a", "b", "<x>", "<int:n>", "v<int:k>", "<path:p>", ""]
PATHS = ["a", "b", "7", "v7", "zz", ""]
METHODS = ["GET", "POST"]


@st.composite
def rule_tables(draw):
    rules = []
    for _ in range(draw(st.integers(1, 6))):
        segs = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=3))
        if "<path:p>" in segs:
            segs = segs[:segs.index("<path:p>") + 1]
        rules.append(("/" + "/".join(segs), draw(st.sampled_from(METHODS)), draw(st.booleans())))
    return rules


def build(rules):
    r = Router()
    for i, (text, method, strict) in enumerate(rules):
        try:
            r.add(Rule(text, f"e{i}", [method], strict_slashes=strict))
        except (ValueError, LookupError):
            pass  # conflicts and names used twice: the table simply lacks that rule
    r.freeze()
    return r


def fits_alone(rule, method, path):
    """Does the real matcher, holding only ``rule``, find its leaf for ``path`` (any method)?"""
    r = Router()
    r.add(Rule(rule.rule, rule.endpoint, rule.methods, strict_slashes=rule.strict_slashes))
    r.freeze()
    allowed = []
    return r._find(method, path, allowed) is not None or bool(allowed)


NEGATIVE = ("rule needs", "does not fit", "refused", "the path ends after", "the path has")
POSITIVE = ("path fits", "belongs to")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_tables(), st.lists(st.sampled_from(PATHS), min_size=1, max_size=3), st.sampled_from(METHODS))
def test_every_reason_agrees_with_the_real_matcher(rules, segs, method):
    r = build(rules)
    path = "/" + "/".join(segs)
    ex = r.explain(path, method)
    got = outcome_of(r, method, path)
    assert (ex.rule.rule if ex.rule is not None else None) == (got if isinstance(got, str) else None)
    chosen = [rule for rule, why in ex.reasons if why.startswith("chosen")]
    assert chosen == ([ex.rule] if ex.rule is not None else [])
    for rule, why in ex.reasons:
        assert why and why != "not tried", (rule, why)
        if why.startswith(NEGATIVE):
            assert not fits_alone(rule, method, path), (rule, why, str(ex))
        elif why.startswith(POSITIVE):
            assert fits_alone(rule, method, path), (rule, why, str(ex))
            if "not in" in why:
                assert got == 405 or isinstance(got, str), (rule, why, str(ex))


# ------------------------------------------------------- hatchway routes --explain

def test_cli_explain_comes_from_the_real_match(tmp_path):
    (tmp_path / "edits.py").write_text(textwrap.dedent("""
        from hatchway.web import App
        app = App(__name__)

        @app.get("/<path:p>/edit")
        def edit(p):
            return p

        @app.get("/x/<name>")
        def by_name(name):
            return name

        @app.get("/x/<int:n>")
        def by_number(n):
            return str(n)
    """))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    cmd = [sys.executable, "-c", "import sys; from hatchway.cli import main; sys.exit(main())", "routes", "edits:app"]
    out = subprocess.run([*cmd, "--explain", "/a/b"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("GET /a/b: no rule matched (404 Not Found)")
    assert "'/<path:p>/edit' -> 'edit': remainder 'a/b' does not fit '<p>/edit'" in out.stdout
    out = subprocess.run([*cmd, "--explain", "/x/5"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert out.stdout.startswith("GET /x/5 matched rule '/x/<int:n>' (endpoint 'by_number') with {'n': 5}")
    assert "IntegerConverter has priority over <name> StringConverter" in out.stdout


@pytest.mark.parametrize("path", ["no-slash", "a/"])
def test_paths_without_a_leading_slash(path):
    ex = table(("/a", {})).explain(path)
    assert ex.outcome == "404 Not Found"
    assert reason(ex, "/a") == f"not tried: {path!r} does not start with '/'"
