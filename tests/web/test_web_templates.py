"""Jinja2 templates: folders per app and blueprint, autoescape, context, filters, streaming."""

import subprocess
import sys
import textwrap

import pytest
import requests

from hatchway.web import (
    App, Blueprint, g, render_template, render_template_string, request, stream_template,
)


@pytest.fixture
def app(tmp_path):
    t = tmp_path / "templates"
    t.mkdir()
    (t / "page.html").write_text(
        "<h1>{{ title }}</h1><p>{{ user }}</p><a href=\"{{ url_for('hello', name='a b') }}\">x</a>"
        "<i>{{ request.path }}|{{ g.who }}|{{ site }}|{{ 'abc' | shout }}|{{ answer() }}</i>"
    )
    (t / "note.txt").write_text("{{ user }}")
    (t / "icon.svg").write_text("<svg>{{ user }}</svg>")
    (t / "feed.xml").write_text("<x>{{ user }}</x>")
    (t / "old.htm").write_text("<p>{{ user }}</p>")
    (t / "base.html").write_text("<main>{% block body %}{% endblock %}</main>")
    (t / "child.html").write_text("{% extends 'base.html' %}{% block body %}[{{ n }}]{% endblock %}")
    (t / "rows.html").write_text("{% for i in range(n) %}<r>{{ i }}</r>{% endfor %}")
    (t / "shared.html").write_text("from the app folder")
    bp_t = tmp_path / "bp_templates"
    bp_t.mkdir()
    (bp_t / "shared.html").write_text("from the blueprint folder")
    (bp_t / "only_bp.html").write_text("bp: {{ bp_value }} {{ site }} {{ request.blueprint }}")

    app = App("tplapp", root_path=str(tmp_path))

    @app.context_processor
    def site():
        return {"site": "hatchway"}

    @app.template_filter()
    def shout(s):
        return s.upper() + "!"

    @app.template_global()
    def answer():
        return 42

    @app.get("/hello/<name>")
    def hello(name):
        return name

    @app.get("/page")
    def page():
        g.who = "gee"
        return render_template("page.html", title="T", user=request.args.get("u", "<b>bob</b>"))

    @app.get("/ext/<name>")
    def ext(name):
        return render_template(name, user="<b>&</b>")

    @app.get("/child")
    def child():
        return render_template("child.html", n=7)

    @app.get("/string")
    def string():
        return render_template_string("<p>{{ v }}</p>{{ site }}", v="<script>")

    @app.get("/stream")
    def stream():
        return stream_template("rows.html", n=int(request.args.get("n", 3)))

    @app.get("/shared")
    def shared():
        return render_template("shared.html")

    bp = Blueprint("bp", __name__, url_prefix="/bp", template_folder="bp_templates", root_path=str(tmp_path))

    @bp.context_processor
    def bp_only():
        return {"bp_value": "inner"}

    @bp.app_template_filter("twice")
    def twice(s):
        return s * 2

    @bp.get("/")
    def bp_page():
        return render_template("only_bp.html")

    @bp.get("/twice")
    def bp_twice():
        return render_template_string("{{ 'ab' | twice }}|{{ bp_value }}")

    app.register_blueprint(bp)

    @app.get("/no-bp-context")
    def no_bp_context():
        return render_template_string("[{{ bp_value }}]")

    return app


def test_render_template_context_filters_globals_url_for(app):
    r = app.test_client().get("/page")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.text == (
        "<h1>T</h1><p>&lt;b&gt;bob&lt;/b&gt;</p><a href=\"/hello/a%20b\">x</a>"
        "<i>/page|gee|hatchway|ABC!|42</i>"
    )


@pytest.mark.parametrize("name,expected", [
    ("note.txt", "<b>&</b>"),
    ("icon.svg", "<svg>&lt;b&gt;&amp;&lt;/b&gt;</svg>"),
    ("feed.xml", "<x>&lt;b&gt;&amp;&lt;/b&gt;</x>"),
    ("old.htm", "<p>&lt;b&gt;&amp;&lt;/b&gt;</p>"),
])
def test_autoescape_by_extension(app, name, expected):
    assert app.test_client().get(f"/ext/{name}").text == expected


def test_inheritance_string_and_streaming(app):
    c = app.test_client()
    assert c.get("/child").text == "<main>[7]</main>"
    assert c.get("/string").text == "<p>&lt;script&gt;</p>hatchway"
    assert c.get("/stream?n=4").text == "<r>0</r><r>1</r><r>2</r><r>3</r>"


def test_blueprint_folders_and_scoped_context_processors(app):
    c = app.test_client()
    assert c.get("/shared").text == "from the app folder"  # the app's folder is searched first
    assert c.get("/bp/").text == "bp: inner hatchway bp"
    assert c.get("/bp/twice").text == "abab|inner"
    assert c.get("/no-bp-context").text == "[]"  # a blueprint's processor stays in its requests


def test_missing_template_is_a_500_with_a_log_line(app, caplog):
    @app.get("/missing")
    def missing():
        return render_template("nope.html")

    r = app.test_client().get("/missing")
    assert r.status_code == 500
    assert b"nope.html" not in r.data  # no internals to the client
    assert "TemplateNotFound" in caplog.text


def test_render_outside_request_needs_app_context(app):
    with pytest.raises(RuntimeError, match="app context"):
        render_template_string("x")
    with app.app_context():
        assert render_template_string("{{ site }}-{{ url_for('hello', name='z') }}") == "hatchway-/hello/z"
    with app.test_request_context("/page?u=q"):
        assert render_template_string("{{ request.args.u }}") == "q"


@pytest.mark.slow
def test_without_jinja2_render_template_names_the_extra(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.modules["jinja2"] = None  # makes `import jinja2` raise ImportError
        from hatchway.web import App, render_template
        app = App("nojinja")

        @app.get("/")
        def index():
            return render_template("x.html")

        with app.test_request_context("/"):
            try:
                render_template("x.html")
            except RuntimeError as e:
                print("ERR:" + str(e))
        print("STATUS:", app.test_client().get("/").status_code)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    err = [line for line in out.stdout.splitlines() if line.startswith("ERR:")]
    assert len(err) == 1
    assert "hatchway[templates]" in err[0] and "Jinja2" in err[0]
    assert "STATUS: 500" in out.stdout


def test_templates_over_real_http(app, serve):
    base = serve(app)
    r = requests.get(f"{base}/page", params={"u": "<i>"}, timeout=10)
    assert r.status_code == 200 and "<p>&lt;i&gt;</p>" in r.text
    r = requests.get(f"{base}/stream", params={"n": 500}, timeout=10)
    assert r.status_code == 200
    assert r.text == "".join(f"<r>{i}</r>" for i in range(500))
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert requests.get(f"{base}/bp/", timeout=10).text == "bp: inner hatchway bp"


def test_real_session_and_flash_in_templates(app):
    from hatchway.web import flash, session

    app.secret_key = "k"

    @app.get("/remember/<name>")
    def remember(name):
        session["name"] = name
        flash(f"hello {name}", "info")
        return "ok"

    @app.get("/show")
    def show():
        return render_template_string(
            "{{ session.get('name') }}|{% for c, m in get_flashed_messages(with_categories=true) %}{{ c }}:{{ m }}{% endfor %}"
        )

    c = app.test_client()
    assert c.get("/show").text == "None|"
    c.get("/remember/<ann>")
    assert c.get("/show").text == "&lt;ann&gt;|info:hello &lt;ann&gt;"
    assert c.get("/show").text == "&lt;ann&gt;|"  # flashes are shown once


def test_startup_hook_may_render(app):
    seen = []

    @app.on_startup
    def warm():
        with app.app_context():
            seen.append(render_template_string("{{ 1 + 1 }}"))

    app.startup()
    assert seen == ["2"]
