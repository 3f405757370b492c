"""Per-request cost of rendering a template: hatchway.web against Flask, in-process, same run.

    python3 bench/templates.py            # 5 rounds, medians (under a minute)
    python3 bench/templates.py --quick    # 2 short rounds

Both apps render the same Jinja2 page (a base template extended by a child,
a loop over 20 escaped rows, url_for, a filter, the request and a context
processor) for ``GET /page``, and a second view serves a 16 KiB file with
send_file (``GET /file``) and a Range request for 100 bytes of it. Each
round times a few thousand calls of ``app(environ, start_response)`` plus
consuming and closing the body, with a fresh environ each call; the table
shows the median over rounds of the per-request time, and the ratio against
Flask measured in the same round.
"""

import argparse
import gc
import io
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

logging.disable(logging.CRITICAL)

BASE = """<!doctype html><html><head><title>{% block title %}{% endblock %}</title>
<link rel="stylesheet" href="{{ url_for('static', filename='style.css') }}"></head>
<body><nav>{{ site }} | {{ request.path }}</nav>{% block body %}{% endblock %}</body></html>"""
PAGE = """{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}{% block body %}
<h1>{{ title | upper }}</h1><ul>{% for row in rows %}
<li class="{{ loop.cycle('odd', 'even') }}"><a href="{{ url_for('item', id=row.id) }}">{{ row.name }}</a>
{{ row.note }}</li>{% endfor %}</ul>{% endblock %}"""
ROWS = [{"id": i, "name": f"item <{i}>", "note": "a & b " * 3} for i in range(20)]


def make_root():
    root = tempfile.mkdtemp(prefix="hw-bench-templates-")
    os.makedirs(os.path.join(root, "templates"))
    os.makedirs(os.path.join(root, "static"))
    with open(os.path.join(root, "templates", "base.html"), "w") as f:
        f.write(BASE)
    with open(os.path.join(root, "templates", "page.html"), "w") as f:
        f.write(PAGE)
    with open(os.path.join(root, "static", "style.css"), "w") as f:
        f.write("body{}\n")
    with open(os.path.join(root, "data.bin"), "wb") as f:
        f.write(os.urandom(16 * 1024))
    return root


def build(framework, root):
    if framework == "flask":
        from flask import Flask as App, render_template, send_file
    else:
        from hatchway.web import App, render_template, send_file
    app = App(f"bench_{framework}", root_path=root)

    @app.context_processor
    def site():
        return {"site": "bench"}

    @app.route("/page")
    def page():
        return render_template("page.html", title="Items", rows=ROWS)

    @app.route("/item/<int:id>")
    def item(id):
        return str(id)

    @app.route("/file")
    def file():
        return send_file(os.path.join(root, "data.bin"))

    return app


def environ(path, headers=None):
    env = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost:8000", "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    env.update(headers or {})
    return env


def start_response(status, headers, exc_info=None):
    return None


def check(app, path, headers, expect_status, expect_len):
    got = []
    result = app(environ(path, headers), lambda s, h, e=None: got.append(s))
    body = b"".join(result)
    if hasattr(result, "close"):
        result.close()
    if not got[0].startswith(expect_status) or (expect_len is not None and len(body) != expect_len):
        raise SystemExit(f"{app!r} {path}: got {got[0]} with {len(body)} bytes; expected {expect_status}")
    return body


def time_calls(app, path, headers, n):
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n):
        result = app(environ(path, headers), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - t0) / n


SCENARIOS = [
    ("template page", "/page", None, "200", None),
    ("send_file 16 KiB", "/file", None, "200", 16 * 1024),
    ("send_file Range 100 B", "/file", {"HTTP_RANGE": "bytes=100-199"}, "206", 100),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("-n", type=int, default=None, help="calls per round")
    args = ap.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    n = args.n or (300 if args.quick else 2000)
    root = make_root()
    try:
        run(root, rounds, n)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root, rounds, n):
    apps = {"hatchway": build("hatchway", root), "flask": build("flask", root)}
    for name, app in apps.items():
        if name == "hatchway":
            app.startup()
    # Same page from both, or the comparison means nothing.
    pages = {name: check(app, "/page", None, "200", None) for name, app in apps.items()}
    if pages["hatchway"] != pages["flask"]:
        raise SystemExit("the two apps render different pages; fix the bench before timing it")
    for _label, path, headers, status, length in SCENARIOS:
        for app in apps.values():
            check(app, path, headers, status, length)
    times = {(label, name): [] for label, *_ in SCENARIOS for name in apps}
    ratios = {label: [] for label, *_ in SCENARIOS}
    for r in range(rounds):
        for label, path, headers, _status, _len in SCENARIOS:
            order = list(apps.items()) if r % 2 == 0 else list(reversed(apps.items()))
            got = {}
            for name, app in order:
                time_calls(app, path, headers, max(50, n // 10))  # warm-up
                got[name] = time_calls(app, path, headers, n)
                times[(label, name)].append(got[name])
            ratios[label].append(got["flask"] / got["hatchway"])
    from importlib.metadata import version

    print(f"template/file per-request time, in-process; {rounds} rounds x {n} calls; "
          f"Python {sys.version.split()[0]}, Flask {version('flask')}, Jinja2 {version('jinja2')}")
    print(f"{'scenario':24} {'hatchway us':>12} {'flask us':>10} {'flask/hatchway':>15}")
    for label, *_ in SCENARIOS:
        h = statistics.median(times[(label, "hatchway")]) * 1e6
        f = statistics.median(times[(label, "flask")]) * 1e6
        print(f"{label:24} {h:12.1f} {f:10.1f} {statistics.median(ratios[label]):14.2f}x")


if __name__ == "__main__":
    main()
