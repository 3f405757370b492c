import io

import pytest

import hatchway.wsgi
from hatchway.web import App, Response, request


def test_app_is_a_wsgi_callable():
    app = App(__name__)
    app.add_url_rule("/", "index", lambda: "hi")
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status
        seen["headers"] = headers

    body = app({"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": io.BytesIO()}, start_response)
    assert b"".join(body) == b"hi"
    assert seen["status"] == "200 OK"
    assert ("Content-Length", "2") in seen["headers"]


def test_method_decorators_and_add_url_rule():
    app2 = App(__name__)

    @app2.get("/r")
    def r_get():
        return "get"

    @app2.post("/r")
    def r_post():
        return "post"

    @app2.put("/r")
    def r_put():
        return "put"

    @app2.patch("/r")
    def r_patch():
        return "patch"

    @app2.delete("/r")
    def r_delete():
        return "delete"

    def listing():
        return "listing"

    app2.add_url_rule("/list", view_func=listing, methods=["GET", "POST"])
    c = app2.test_client()
    for verb in ("get", "post", "put", "patch", "delete"):
        assert getattr(c, verb)("/r").text == verb
    assert c.post("/list").text == "listing"
    assert app2.url_for("listing") == "/list"
    with pytest.raises(TypeError):
        app2.get("/x", methods=["POST"])


def test_same_name_views_need_distinct_endpoints():
    app = App(__name__)
    app.get("/a")(lambda: "a")
    with pytest.raises(ValueError, match="already bound"):
        app.get("/b")(lambda: "b")
    app.get("/b", endpoint="b")(lambda: "b")
    assert app.test_client().get("/b").text == "b"


def test_route_with_explicit_endpoint_and_methods():
    app = App(__name__)

    @app.route("/things/<int:id>", methods=["GET", "PUT"], endpoint="thing")
    def anything(id):
        return {"id": id, "method": request.method, "endpoint": request.endpoint}

    c = app.test_client()
    assert c.put("/things/2").get_json() == {"id": 2, "method": "PUT", "endpoint": "thing"}
    assert app.url_for("thing", id=9) == "/things/9"


def test_each_step_is_overridable():
    calls = []

    class Traced(App):
        def __call__(self, environ, start_response):
            calls.append("call")
            return super().__call__(environ, start_response)

        def wsgi_app(self, environ, start_response):
            calls.append("wsgi_app")
            return super().wsgi_app(environ, start_response)

        def dispatch(self, request):
            calls.append("dispatch")
            return super().dispatch(request)

        def finalize(self, request, rv):
            calls.append("finalize")
            response = super().finalize(request, rv)
            response.headers["X-Finalized"] = "1"
            return response

    app = Traced(__name__)
    app.add_url_rule("/", "index", lambda: "x")
    r = app.test_client().get("/")
    assert r.headers["X-Finalized"] == "1"
    assert calls == ["call", "wsgi_app", "dispatch", "finalize"]


def test_custom_request_and_response_classes():
    class MyRequest(App.request_class):
        __slots__ = ()

        @property
        def shout(self):
            return self.path.upper()

    class MyResponse(Response):
        __slots__ = ()

    class MyApp(App):
        request_class = MyRequest
        response_class = MyResponse

    app = MyApp(__name__)
    seen = {}

    @app.get("/p")
    def p(request):
        seen["type"] = type(request).__name__
        return request.shout

    assert app.test_client().get("/p").text == "/P"
    assert seen["type"] == "MyRequest"


def test_run_serves_with_hatchway_serve(monkeypatch):
    calls = []
    events = []

    def fake_serve(application, host, port, **options):
        calls.append((host, port, application, options))
        # Startup hooks have run and routes are frozen by the time we serve.
        events.append("serving")

    monkeypatch.setattr(hatchway, "serve", fake_serve)
    app = App(__name__)
    app.on_startup(lambda: events.append("startup"))
    app.on_shutdown(lambda: events.append("shutdown"))
    app.add_url_rule("/", "index", lambda: "x")
    app.run("0.0.0.0", 9999, debug=True)
    assert calls == [("0.0.0.0", 9999, app, {"threads": 8})]
    assert events == ["startup", "serving", "shutdown"]
    assert app.debug is True


def test_url_map_alias_and_repr():
    app = App("myapp")
    assert app.url_map is app.routes
    assert repr(app) == "<App 'myapp'>"


def test_async_views_are_refused_at_registration():
    app = App(__name__)

    async def view():
        return "x"

    with pytest.raises(TypeError, match="async"):
        app.add_url_rule("/", "v", view)


RUN_SCRIPT = """
import sys
from hatchway.web import App, request

app = App("runner")
app.on_startup(lambda: print("startup-hook", flush=True))
app.on_shutdown(lambda: print("shutdown-hook", flush=True))

@app.get("/")
def index():
    return "served by app.run"

@app.get("/boom")
def boom():
    raise RuntimeError("shown in debug")

app.run("127.0.0.1", 0, debug=True)
"""


@pytest.mark.slow
def test_app_run_really_serves_and_stops_on_sigterm(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    import requests

    script = tmp_path / "runner.py"
    script.write_text(RUN_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        # Wait (with a deadline) for the server to announce its address.
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"Running on (http://[\d.]+:\d+)/", line)
            if m:
                url = m.group(1)
        assert url, "app.run() did not announce its address"
        r = requests.get(url + "/", timeout=10)
        assert r.text == "served by app.run"
        r = requests.get(url + "/boom", timeout=10)
        assert r.status_code == 500 and "shown in debug" in r.json()["traceback"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.split() == ["startup-hook", "shutdown-hook"]
