"""Typed views against hand-written views, flask-openapi3, apiflask and FastAPI (imported by frameworks.py).

Scenarios, all in one process and run, interleaved round by round:

* typed-get: ``GET /items/<int:id>?q=abc&limit=5``; the typed view declares
  ``id: int, q: str | None = None, limit: int = 10``; the hand-written one reads
  ``request.args`` itself (``get("q")``, ``get("limit", 10, type=int)``).
* typed-post: ``POST /users`` with a JSON body of 10 fields validated into a
  dataclass (hatchway), a pydantic model (flask-openapi3, FastAPI) or a
  marshmallow schema (apiflask), answering the validated object as JSON.

FastAPI is driven as a bare ASGI app, without TestClient or a server: one
asyncio event loop runs a coroutine that, per request, builds the HTTP scope
dict, hands ``app(scope, receive, send)`` a ``receive`` that returns the whole
body in one ``http.request`` message and a ``send`` that keeps the body chunks,
then joins them. The FastAPI endpoint is ``async def`` so no thread pool is
involved (its cheapest path). The WSGI apps get a fresh environ and
``wsgi.input`` per call and their body is joined and closed, as in the rest of
frameworks.py.
"""

import asyncio
import dataclasses
import gc
import io
import json
import statistics
import sys
import time

BODY = json.dumps({
    "name": "Ada Lovelace", "email": "ada@example.org", "age": 36, "score": 9.5, "active": True,
    "tags": ["math", "engines"], "city": "London", "zip": "W1", "country": "UK", "level": 3,
}).encode()
GET_PATH, GET_QS = "/items/42", "q=abc&limit=5"


def environ(path, method="GET", qs="", body=b""):
    env = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": qs,
        "SERVER_NAME": "localhost", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost:8000", "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def _start_response(status, headers, exc_info=None):
    _start_response.status = status


@dataclasses.dataclass
class User:
    name: str
    email: str
    age: int
    score: float
    active: bool
    tags: list[str]
    city: str
    zip: str
    country: str
    level: int


def hatchway_apps():
    from hatchway.web import App

    typed = App("typed")

    @typed.get("/items/<int:id>")
    def item(id: int, q: str | None = None, limit: int = 10):
        return {"id": id, "q": q, "limit": limit}

    @typed.post("/users")
    def create(user: User):
        return user

    hand = App("hand")

    @hand.get("/items/<int:id>")
    def item_by_hand(id, request):
        args = request.args
        return {"id": id, "q": args.get("q"), "limit": args.get("limit", 10, type=int)}

    typed.startup()
    hand.startup()
    return typed, hand


def _pydantic_user():
    import pydantic

    class UserModel(pydantic.BaseModel):
        name: str
        email: str
        age: int
        score: float
        active: bool
        tags: list[str]
        city: str
        zip: str
        country: str
        level: int

    return UserModel


def flask_openapi3_app():
    from flask_openapi3 import OpenAPI

    UserModel = _pydantic_user()
    app = OpenAPI("fo3")

    @app.post("/users")
    def create(body: UserModel):
        return body.model_dump()

    return app


def apiflask_app():
    from apiflask import APIFlask, Schema
    from apiflask.fields import Boolean, Float, Integer, List, String

    class UserIn(Schema):
        name = String(required=True)
        email = String(required=True)
        age = Integer(required=True)
        score = Float(required=True)
        active = Boolean(required=True)
        tags = List(String(), required=True)
        city = String(required=True)
        zip = String(required=True)
        country = String(required=True)
        level = Integer(required=True)

    app = APIFlask("apiflask", spec_path=None, docs_path=None)

    @app.post("/users")
    @app.input(UserIn, arg_name="user")
    def create(user):
        return user

    return app


def fastapi_app():
    from fastapi import FastAPI

    UserModel = _pydantic_user()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/users")
    async def create(user: UserModel):
        return user

    return app


class ASGIDriver:
    """The minimal in-process ASGI client described in the module docstring."""

    def __init__(self, app):
        self.app = app
        self.loop = asyncio.new_event_loop()

    async def _one(self, body):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/users", "raw_path": b"/users", "root_path": "", "query_string": b"",
            "headers": [(b"host", b"localhost:8000"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }
        sent = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    async def _many(self, n, body):
        for _ in range(n):
            await self._one(body)

    def one(self, body):
        return self.loop.run_until_complete(self._one(body))

    def time(self, n, body):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        self.loop.run_until_complete(self._many(n, body))
        t1 = time.perf_counter()
        gc.enable()
        return (t1 - t0) / n * 1e6


def time_wsgi(app, path, n, method="GET", qs="", body=b""):
    template = environ(path, method, qs, body)
    envs = [dict(template, **{"wsgi.input": io.BytesIO(body)}) for _ in range(n)]
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    for env in envs:
        result = app(env, _start_response)
        b"".join(result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
    t1 = time.perf_counter()
    gc.enable()
    return (t1 - t0) / n * 1e6


def wsgi_once(app, path, method="GET", qs="", body=b""):
    result = app(environ(path, method, qs, body), _start_response)
    out = b"".join(result)
    getattr(result, "close", lambda: None)()
    return _start_response.status, out


def build():
    typed, hand = hatchway_apps()
    peers = {}
    for name, make in (("flask-openapi3", flask_openapi3_app), ("apiflask", apiflask_app)):
        try:
            peers[name] = make()
        except ImportError as e:
            print(f"({name} not installed: {e}; pip install -e '.[bench]')")
    try:
        fast = ASGIDriver(fastapi_app())
    except ImportError as e:
        print(f"(FastAPI not installed: {e})")
        fast = None
    # Every contender must answer the same thing before it is timed.
    assert wsgi_once(typed, GET_PATH, qs=GET_QS) == wsgi_once(hand, GET_PATH, qs=GET_QS)
    want = json.loads(BODY)
    status, out = wsgi_once(typed, "/users", "POST", body=BODY)
    assert status.startswith("200") and json.loads(out) == want, (status, out)
    for name, app in peers.items():
        status, out = wsgi_once(app, "/users", "POST", body=BODY)
        assert status.startswith("200") and json.loads(out) == want, (name, status, out)
        bad = json.dumps(dict(want, age="old")).encode()
        assert not wsgi_once(app, "/users", "POST", body=bad)[0].startswith("200"), name
    if fast is not None:
        status, out = fast.one(BODY)
        assert status == 200 and json.loads(out) == want, (status, out)
    assert wsgi_once(typed, "/users", "POST", body=json.dumps(dict(want, age="old")).encode())[0].startswith("422")
    return typed, hand, peers, fast


def measure(rounds, n):
    """{name: median us} for each contender, rounds interleaved."""
    typed, hand, peers, fast = build()
    samples = {}

    def add(name, us):
        samples.setdefault(name, []).append(us)

    for _ in range(rounds):
        add("get typed", time_wsgi(typed, GET_PATH, n, qs=GET_QS))
        add("get by hand", time_wsgi(hand, GET_PATH, n, qs=GET_QS))
        add("post hatchway", time_wsgi(typed, "/users", n, "POST", body=BODY))
        for name, app in peers.items():
            add(f"post {name}", time_wsgi(app, "/users", max(n // 5, 200), "POST", body=BODY))
        if fast is not None:
            add("post fastapi", fast.time(max(n // 5, 200), BODY))
    return {k: statistics.median(v) for k, v in samples.items()}


def report(runs):
    """Print the typed table and the three targets from a list of measure() results."""
    med = statistics.median
    names = list(runs[0])
    print("typed views, us/request (median over runs of per-run medians)")
    for name in names:
        us = [r[name] for r in runs]
        print(f"  {name:22} {med(us):8.2f}   per run: {' '.join(f'{u:.2f}' for u in us)}")

    def ratio(a, b):
        return med([r[a] / r[b] for r in runs if a in r and b in r]) if all(b in r for r in runs) else None

    print("targets (typed):")
    rows = [("get typed", "get by hand", 1.25, "typed GET (1 path + 2 query) vs by hand")]
    for peer in ("flask-openapi3", "apiflask"):
        rows.append(("post hatchway", f"post {peer}", 0.5, f"typed POST (10-field dataclass) vs {peer}"))
    rows.append(("post hatchway", "post fastapi", 1.0, "typed POST vs FastAPI (bare ASGI driver)"))
    for a, b, limit, label in rows:
        x = ratio(a, b)
        if x is None:
            print(f"  {label:52} not measured ({b.split(' ', 1)[1]} not installed)")
        else:
            print(f"  {label:52} {x:.2f}x  (<= {limit}x) {'met' if x <= limit else 'NOT met'}")
