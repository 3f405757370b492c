import threading

import pytest

from hatchway.web import (
    App, copy_current_request_context, current_app, g, has_request_context, request, start_thread,
)


def test_request_proxy_and_explicit_request_parameter():
    app = App(__name__)
    seen = {}

    @app.get("/proxy/<int:n>")
    def proxy(n):
        return {"n": n, "path": request.path, "method": request.method}

    @app.get("/explicit/<int:n>")
    def explicit(n, request):
        from hatchway.web import request as proxy_request

        seen["same"] = request is proxy_request._get_current_object()
        seen["type"] = type(request).__name__
        return {"n": n, "path": request.path}

    c = app.test_client()
    assert c.get("/proxy/1").get_json() == {"n": 1, "path": "/proxy/1", "method": "GET"}
    assert c.get("/explicit/2").get_json() == {"n": 2, "path": "/explicit/2"}
    assert seen == {"same": True, "type": "Request"}


def test_request_proxy_outside_a_request_raises():
    assert not has_request_context()
    assert not request
    with pytest.raises(RuntimeError, match="outside of a request"):
        request.path


def test_request_named_url_variable_is_refused():
    app = App(__name__)
    with pytest.raises(ValueError, match="reserved"):
        app.add_url_rule("/<request>", "r", lambda request: "x")


def test_g_is_per_request():
    app = App(__name__)

    @app.before_request
    def load():
        g.count = g.get("count", 0) + 1

    @app.get("/")
    def index():
        assert "count" in g
        return {"count": g.count, "app": current_app.name}

    c = app.test_client()
    assert c.get("/").get_json() == {"count": 1, "app": __name__}
    assert c.get("/").get_json() == {"count": 1, "app": __name__}


def test_thread_helpers_carry_the_request():
    app = App(__name__)
    results = {}

    @app.get("/copy")
    def copy():
        @copy_current_request_context
        def work():
            results["copy"] = (request.path, request.args.get("x"), g.token)

        g.token = "t1"
        t = threading.Thread(target=work)
        t.start()
        t.join(10)
        return "ok"

    @app.get("/start")
    def start():
        g.token = "t2"
        t = start_thread(lambda suffix: results.__setitem__("start", (request.path + suffix, g.token)), "!")
        t.join(10)
        return "ok"

    @app.get("/bare")
    def bare():
        def work():
            try:
                request.path
            except RuntimeError as e:
                results["bare"] = "RuntimeError" if "outside of a request" in str(e) else str(e)

        t = threading.Thread(target=work)
        t.start()
        t.join(10)
        return "ok"

    c = app.test_client()
    c.get("/copy?x=5")
    c.get("/start")
    c.get("/bare")
    assert results == {"copy": ("/copy", "5", "t1"), "start": ("/start!", "t2"), "bare": "RuntimeError"}


def test_copy_context_needs_a_request():
    with pytest.raises(RuntimeError):
        copy_current_request_context(lambda: None)


def test_context_is_reset_after_each_request_even_on_errors():
    app = App(__name__)
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    app.add_url_rule("/ok", "ok", lambda: "ok")
    c = app.test_client()
    c.get("/boom")
    assert not has_request_context()
    c.get("/ok")
    assert not has_request_context()


def test_nested_apps_restore_the_outer_request():
    inner = App("inner")
    inner.add_url_rule("/", "i", lambda: request.path)
    outer = App("outer")

    @outer.get("/outer")
    def o():
        body = inner.test_client().get("/").text
        return {"inner": body, "outer": request.path}

    assert outer.test_client().get("/outer").get_json() == {"inner": "/", "outer": "/outer"}
