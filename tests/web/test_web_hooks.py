import logging

import pytest

from hatchway.web import App, Response, abort, g, request
from hatchway.web.exceptions import HTTPException, InternalServerError, NotFound


def test_before_request_runs_in_order_and_can_short_circuit():
    app = App(__name__)
    calls = []

    @app.before_request
    def first():
        calls.append("first")
        g.user = request.headers.get("X-User")

    @app.before_request
    def second():
        calls.append("second")
        if g.user is None:
            return {"error": "login"}, 401

    @app.get("/")
    def index():
        calls.append("view")
        return f"hi {g.user}"

    c = app.test_client()
    r = c.get("/")
    assert r.status_code == 401 and r.get_json() == {"error": "login"}
    assert calls == ["first", "second"]
    calls.clear()
    assert c.get("/", headers={"X-User": "ann"}).text == "hi ann"
    assert calls == ["first", "second", "view"]


def test_before_request_runs_for_404_too():
    app = App(__name__)
    seen = []
    app.before_request(lambda: seen.append(request.path))
    assert app.test_client().get("/nothing").status_code == 404
    assert seen == ["/nothing"]


def test_after_request_order_and_replacement():
    app = App(__name__)

    @app.after_request
    def registered_first(resp):
        resp.headers.add("X-Order", "first")
        return resp

    @app.after_request
    def registered_second(resp):
        resp.headers.add("X-Order", "second")
        return Response(resp.get_data() + b"!", resp.status_code, resp.headers.items())

    app.add_url_rule("/", "index", lambda: "hi")
    r = app.test_client().get("/")
    # Latest registered runs first (Flask's order).
    assert r.headers.getlist("X-Order") == ["second", "first"]
    assert r.text == "hi!"


def test_after_request_runs_on_error_responses():
    app = App(__name__)
    app.after_request(lambda resp: (resp.headers.set("X-Seen", "1"), resp)[1])
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    c = app.test_client()
    assert c.get("/missing").headers["X-Seen"] == "1"
    assert c.get("/boom").headers["X-Seen"] == "1"


def test_teardown_always_runs_and_one_failure_does_not_skip_others(caplog):
    app = App(__name__)
    seen = []

    @app.teardown_request
    def a(exc):
        seen.append(("a", type(exc).__name__ if exc else None))

    @app.teardown_request
    def broken(exc):
        raise RuntimeError("teardown broke")

    @app.teardown_request
    def c(exc):
        seen.append(("c", type(exc).__name__ if exc else None))

    app.add_url_rule("/ok", "ok", lambda: "ok")
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    app.add_url_rule("/abort", "abort_", lambda: abort(403))
    client = app.test_client()
    assert client.get("/ok").status_code == 200
    assert client.get("/boom").status_code == 500
    assert client.get("/abort").status_code == 403
    assert client.get("/404").status_code == 404
    # Latest registered first; broken does not stop a.
    assert seen == [
        ("c", None), ("a", None),
        ("c", "ZeroDivisionError"), ("a", "ZeroDivisionError"),
        ("c", None), ("a", None),
        ("c", None), ("a", None),
    ]
    failures = [r for r in caplog.records if "teardown_request hook" in r.getMessage()]
    assert len(failures) == 4


def test_teardown_after_streaming_finishes():
    app = App(__name__)
    events = []
    app.teardown_request(lambda exc: events.append("teardown"))

    @app.get("/s")
    def s():
        def gen():
            events.append("chunk")
            yield "x"

        return gen()

    assert app.test_client().get("/s").data == b"x"
    assert events == ["chunk", "teardown"]


def test_errorhandler_by_code_and_class_with_mro():
    app = App(__name__)

    class AppError(Exception):
        pass

    class NotEnoughCoffee(AppError):
        pass

    @app.errorhandler(404)
    def not_found(e):
        return {"custom": "not found", "desc": e.description}, 404

    @app.errorhandler(AppError)
    def app_error(e):
        return {"handled": type(e).__name__}, 409

    @app.get("/coffee")
    def coffee():
        raise NotEnoughCoffee()

    @app.get("/app")
    def app_err():
        raise AppError()

    c = app.test_client()
    assert c.get("/nope").get_json() == {"custom": "not found", "desc": NotFound.description}
    assert c.get("/coffee").get_json() == {"handled": "NotEnoughCoffee"}
    assert c.get("/app").status_code == 409


def test_errorhandler_for_http_exception_base_and_exception():
    app = App(__name__)

    @app.errorhandler(HTTPException)
    def any_http(e):
        return f"http {e.code}", e.code

    @app.errorhandler(Exception)
    def anything(e):
        return f"caught {type(e).__name__}", 500

    app.add_url_rule("/boom", "boom", lambda: {}["x"])
    c = app.test_client()
    assert c.get("/nope").text == "http 404"
    assert c.get("/boom").text == "caught KeyError"


def test_500_handler_gets_original_exception(caplog):
    app = App(__name__)

    @app.errorhandler(500)
    def server_error(e):
        assert isinstance(e, InternalServerError)
        return {"oops": type(e.original_exception).__name__}, 500

    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    r = app.test_client().get("/boom")
    assert r.status_code == 500 and r.get_json() == {"oops": "ZeroDivisionError"}
    assert "ZeroDivisionError" in caplog.text


def test_failing_error_handler_gives_plain_500(caplog):
    app = App(__name__)

    @app.errorhandler(404)
    def broken(e):
        raise ValueError("handler bug")

    r = app.test_client().get("/nope")
    assert r.status_code == 500
    assert "handler bug" not in r.text
    assert "handler bug" in caplog.text


def test_handler_that_aborts_renders_that_error():
    app = App(__name__)

    @app.errorhandler(404)
    def hide(e):
        abort(410)

    assert app.test_client().get("/nope").status_code == 410


def test_errors_render_by_accept_header():
    app = App(__name__)
    app.add_url_rule("/a", "a", lambda: abort(403, "no <entry>"))
    c = app.test_client()
    r = c.get("/a")
    assert r.mimetype == "application/problem+json"
    assert r.get_json() == {"type": "about:blank", "title": "Forbidden", "status": 403,
                            "detail": "no <entry>", "instance": "/a"}
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = c.get("/a", headers={"Accept": browser})
    assert r.mimetype == "text/html"
    assert "<h1>Forbidden</h1>" in r.text and "no &lt;entry&gt;" in r.text
    r = c.get("/a", headers={"Accept": "application/json, text/html;q=0.5"})
    assert r.mimetype == "application/problem+json"
    r = c.get("/a", headers={"Accept": "*/*"})
    assert r.mimetype == "application/problem+json"
    r = c.get("/a", headers={"Accept": "text/*"})
    assert r.mimetype == "text/html"


def test_unhandled_exception_500_logs_and_hides_traceback(caplog):
    app = App(__name__)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret database password")

    with caplog.at_level(logging.ERROR, logger="hatchway.web"):
        r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and "Traceback" not in r.text
    assert r.get_json()["title"] == "Internal Server Error"
    records = [rec for rec in caplog.records if rec.name == "hatchway.web"]
    assert len(records) == 1
    assert "GET /boom" in records[0].getMessage()
    assert records[0].exc_info[0] is RuntimeError


def test_debug_shows_traceback():
    app = App(__name__, debug=True)

    @app.get("/boom")
    def boom():
        raise RuntimeError("visible in debug")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    tb = r.get_json()["traceback"]
    assert "Traceback" in tb and "visible in debug" in tb
    r = app.test_client().get("/boom", headers={"Accept": "text/html"})
    assert "visible in debug" in r.text and "<pre>" in r.text


def test_propagate_exceptions_option():
    app = App(__name__, config={"PROPAGATE_EXCEPTIONS": True})
    seen = []
    app.teardown_request(lambda exc: seen.append(type(exc).__name__))
    app.add_url_rule("/boom", "boom", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        app.test_client().get("/boom")
    assert seen == ["ZeroDivisionError"]


def test_startup_and_shutdown_hooks_are_explicit():
    app = App(__name__)
    events = []
    app.on_startup(lambda: events.append("startup"))
    app.on_shutdown(lambda: events.append("shutdown-1"))
    app.on_shutdown(lambda: events.append("shutdown-2"))
    app.add_url_rule("/", "index", lambda: events.append("request") or "ok")
    with app.test_client() as c:
        assert events == ["startup"]
        c.get("/")
        c.get("/")
    assert events == ["startup", "request", "request", "shutdown-2", "shutdown-1"]
    app.shutdown()  # idempotent
    assert events.count("shutdown-1") == 1


def test_startup_runs_once_before_first_request_if_nobody_called_it():
    app = App(__name__)
    events = []
    app.on_startup(lambda: events.append("startup"))
    app.add_url_rule("/", "index", lambda: "ok")
    c = app.test_client()
    c.get("/")
    c.get("/")
    assert events == ["startup"]
    with pytest.raises(RuntimeError):
        app.on_startup(lambda: None)


def test_after_request_hook_returning_none_keeps_response():
    app = App(__name__)
    app.after_request(lambda resp: None)
    app.add_url_rule("/", "index", lambda: "kept")
    assert app.test_client().get("/").text == "kept"
