"""Per-request cost of hatchway.web against Flask, Bottle and Falcon, in-process.

    python3 bench/frameworks.py            # 3 full runs, medians (a couple of minutes)
    python3 bench/frameworks.py --quick    # one short run

What is measured, for every framework in the same process and run:

* hello: ``GET /`` answering a short text body;
* json50: an app with 50 routes (25 static, 25 with an int converter)
  answering JSON, hit on a dynamic route in the middle of the table;
* Python function calls per request (cProfile, which counts C functions too,
  including the harness's start_response);
* routing cost per match on a table of 1 static + 100 dynamic rules:
  the static rule, the 1st and the 100th dynamic rule (and, for hatchway,
  the 1000th of 1000 to show the cost stays flat).
* typed views (bench/typed.py): a typed GET against the same view written by
  hand, and a typed POST with a 10-field dataclass body against
  flask-openapi3, apiflask and FastAPI (driven as a bare ASGI app; how is
  described in bench/typed.py). ``--typed`` runs only this part.

Times are the median of several rounds; each round times a few thousand
calls of ``app(environ, start_response)`` plus consuming and closing the
body, with a fresh environ each call. Ratios are against Falcon and Flask
measured in the same run, so machine noise affects all of them alike.
"""

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import logging  # noqa: E402

logging.disable(logging.CRITICAL)

N_ROUTES = 50


def base_environ(path, method="GET"):
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost:8000",
        "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def start_response(status, headers, exc_info=None):
    return None


# ----------------------------------------------------------------- the apps

def hatchway_apps():
    from hatchway.web import App

    hello = App("hello")

    @hello.get("/")
    def index():
        return "Hello, World!"

    api = App("json50")
    for i in range(N_ROUTES // 2):
        api.add_url_rule(f"/static{i}", f"s{i}", (lambda i=i: {"route": i}))
        api.add_url_rule(f"/items{i}/<int:id>", f"d{i}", (lambda id, i=i: {"route": i, "id": id}))
    hello.startup()
    api.startup()
    return hello, api


def flask_apps():
    import flask

    hello = flask.Flask("hello")

    @hello.route("/")
    def index():
        return "Hello, World!"

    api = flask.Flask("json50")
    for i in range(N_ROUTES // 2):
        api.add_url_rule(f"/static{i}", f"s{i}", (lambda i=i: {"route": i}))
        api.add_url_rule(f"/items{i}/<int:id>", f"d{i}", (lambda id, i=i: {"route": i, "id": id}))
    return hello, api


def bottle_apps():
    import bottle

    hello = bottle.Bottle()

    @hello.get("/")
    def index():
        return "Hello, World!"

    api = bottle.Bottle()
    for i in range(N_ROUTES // 2):
        api.route(f"/static{i}", "GET", (lambda i=i: {"route": i}))
        api.route(f"/items{i}/<id:int>", "GET", (lambda id, i=i: {"route": i, "id": id}))
    return hello, api


def falcon_apps():
    import falcon

    class Hello:
        def on_get(self, req, resp):
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = "Hello, World!"

    hello = falcon.App()
    hello.add_route("/", Hello())

    class Static:
        def __init__(self, i):
            self.i = i

        def on_get(self, req, resp):
            resp.media = {"route": self.i}

    class Item:
        def __init__(self, i):
            self.i = i

        def on_get(self, req, resp, id):
            resp.media = {"route": self.i, "id": id}

    api = falcon.App()
    for i in range(N_ROUTES // 2):
        api.add_route(f"/static{i}", Static(i))
        api.add_route(f"/items{i}/{{id:int}}", Item(i))
    return hello, api


FRAMEWORKS = {
    "hatchway": hatchway_apps,
    "falcon": falcon_apps,
    "bottle": bottle_apps,
    "flask": flask_apps,
}

HELLO_PATH = "/"
JSON_PATH = f"/items{N_ROUTES // 4}/42"


def one_request(app, environ):
    result = app(environ, start_response)
    body = b"".join(result)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    return body


def check(name, app, path, expect):
    body = one_request(app, base_environ(path))
    if expect not in body:
        raise SystemExit(f"{name} {path}: unexpected body {body!r}")


def time_per_request(app, path, n, rounds):
    template = base_environ(path)
    samples = []
    for _ in range(rounds):
        environs = [dict(template, **{"wsgi.input": io.BytesIO(b"")}) for _ in range(n)]
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        for env in environs:
            result = app(env, start_response)
            b"".join(result)
            close = getattr(result, "close", None)
            if close is not None:
                close()
        t1 = time.perf_counter()
        gc.enable()
        samples.append((t1 - t0) / n * 1e6)
    return statistics.median(samples), samples


def calls_per_request(app, path, n=200):
    template = base_environ(path)
    environs = [dict(template) for _ in range(n + 1)]
    one_request(app, environs.pop())  # warm caches outside the profile
    prof = cProfile.Profile()
    for env in environs:
        prof.enable()
        result = app(env, start_response)
        close = getattr(result, "close", None)
        for _ in result:
            pass
        if close is not None:
            close()
        prof.disable()
    stats = pstats.Stats(prof)
    # Each enable/disable pair shows up as one call to Profiler.disable.
    return (stats.total_calls - n) / n


# ------------------------------------------------------------------ routing

ROUTING_STATIC = "/about/team"


def routing_tables(n_dynamic):
    return [f"/d{i}/<int:id>" for i in range(n_dynamic)]


def routing_hatchway(n):
    from hatchway.web.routing import Router, Rule

    r = Router()
    r.add(Rule(ROUTING_STATIC, "static"))
    for i in range(n):
        r.add(Rule(f"/d{i}/<int:id>", f"d{i}"))
    r.freeze()
    return lambda path: r.lookup("GET", path)


def routing_werkzeug(n):
    from werkzeug.routing import Map, Rule

    m = Map([Rule(ROUTING_STATIC, endpoint="static")] + [Rule(f"/d{i}/<int:id>", endpoint=f"d{i}") for i in range(n)])
    adapter = m.bind("localhost")
    return lambda path: adapter.match(path, "GET")


def routing_bottle(n):
    import bottle

    app = bottle.Bottle()
    app.route(ROUTING_STATIC, "GET", lambda: "")
    for i in range(n):
        app.route(f"/d{i}/<id:int>", "GET", lambda id: "")
    router = app.router
    return lambda path: router.match({"PATH_INFO": path, "REQUEST_METHOD": "GET"})


def routing_falcon(n):
    import falcon

    class R:
        def on_get(self, req, resp, **kw):
            pass

    app = falcon.App()
    app.add_route(ROUTING_STATIC, R())
    for i in range(n):
        app.add_route(f"/d{i}/{{id:int}}", R())
    router = app._router
    router.find("/")  # compile
    return lambda path: router.find(path)


ROUTERS = {
    "hatchway": routing_hatchway,
    "falcon": routing_falcon,
    "bottle": routing_bottle,
    "werkzeug": routing_werkzeug,
}


def time_match(match, path, n, rounds):
    if match(path) is None:
        raise SystemExit(f"router did not match {path}")
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            match(path)
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


# -------------------------------------------------------------------- main

def measure_once(apps, rounds, n, rn):
    """One full run: {("hello"|"json50", fw): (us, calls)}, {router: (static, d1, d100)}, (d1, d1000)."""
    results = {}
    for scenario, path, idx in (("hello", HELLO_PATH, 0), ("json50", JSON_PATH, 1)):
        # Interleave frameworks round by round so drift hits all of them.
        per = {name: [] for name in apps}
        for _ in range(rounds):
            for name, pair in apps.items():
                med, _ = time_per_request(pair[idx], path, n, 1)
                per[name].append(med)
        for name in apps:
            results[(scenario, name)] = (
                statistics.median(per[name]),
                calls_per_request(apps[name][idx], path),
            )
    routing = {}
    for name, make in ROUTERS.items():
        match = make(100)
        routing[name] = (
            time_match(match, ROUTING_STATIC, rn, rounds),
            time_match(match, "/d0/42", rn, rounds),
            time_match(match, "/d99/42", rn, rounds),
        )
    match = routing_hatchway(1000)
    flat = (time_match(match, "/d0/42", rn, rounds), time_match(match, "/d999/42", rn, rounds))
    return results, routing, flat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer rounds and requests, one run")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per run (median taken)")
    ap.add_argument("--runs", type=int, default=None, help="full runs (median of run medians)")
    ap.add_argument("--typed", action="store_true", help="only the typed-view scenarios")
    args = ap.parse_args()
    rounds = args.rounds or (5 if args.quick else 11)
    runs = args.runs or (1 if args.quick else 3)
    n = 2000 if args.quick else 5000
    rn = 5000 if args.quick else 20000

    import typed

    if args.typed:
        typed.report([typed.measure(rounds, n) for _ in range(runs)])
        return

    apps = {name: make() for name, make in FRAMEWORKS.items()}
    for name, (hello, api) in apps.items():
        check(name, hello, HELLO_PATH, b"Hello, World!")
        check(name, api, JSON_PATH, b"42")

    all_runs = [measure_once(apps, rounds, n, rn) for _ in range(runs)]

    def med(values):
        return statistics.median(values)

    print(f"Python {sys.version.split()[0]}; {runs} run(s) x {rounds} rounds x {n} requests; "
          f"figures are medians over runs of per-run medians")
    print("ratios are computed within each run, then the median taken\n")
    print(f"{'scenario':8} {'framework':9} {'us/req':>8} {'calls':>6} {'vs falcon':>10} {'flask/x':>8}   per-run us")
    for scenario in ("hello", "json50"):
        for name in apps:
            us = [r[0][(scenario, name)][0] for r in all_runs]
            calls = med([r[0][(scenario, name)][1] for r in all_runs])
            vs_falcon = med([r[0][(scenario, name)][0] / r[0][(scenario, "falcon")][0] for r in all_runs])
            flask_x = med([r[0][(scenario, "flask")][0] / r[0][(scenario, name)][0] for r in all_runs])
            runs_txt = " ".join(f"{u:.2f}" for u in us)
            print(f"{scenario:8} {name:9} {med(us):8.2f} {calls:6.0f} {vs_falcon:9.2f}x {flask_x:7.1f}x   {runs_txt}")
        print()

    print("routing, us per match (1 static + 100 dynamic rules)")
    print(f"{'router':9} {'static':>7} {'1st dyn':>8} {'100th dyn':>10}")
    for name in ROUTERS:
        s, d1, d100 = (med([r[1][name][k] for r in all_runs]) for k in range(3))
        print(f"{name:9} {s:7.2f} {d1:8.2f} {d100:10.2f}")
    d1, d1000 = (med([r[2][k] for r in all_runs]) for k in range(2))
    print(f"\nhatchway with 1000 dynamic rules: 1st {d1:.2f} us, 1000th {d1000:.2f} us")

    ratio = med([r[0][("hello", "hatchway")][0] / r[0][("hello", "falcon")][0] for r in all_runs])
    speedup = med([r[0][("hello", "flask")][0] / r[0][("hello", "hatchway")][0] for r in all_runs])
    calls = med([r[0][("hello", "hatchway")][1] for r in all_runs])
    print("\ntargets (hello):")
    print(f"  <= 1.3x falcon : {ratio:.2f}x  {'met' if ratio <= 1.3 else 'NOT met'}")
    print(f"  <= 40 calls    : {calls:.0f}  {'met' if calls <= 40 else 'NOT met'}")
    print(f"  >= 8x flask    : {speedup:.1f}x  {'met' if speedup >= 8 else 'NOT met'}")
    print()
    typed.report([typed.measure(rounds, n) for _ in range(runs)])


if __name__ == "__main__":
    main()
