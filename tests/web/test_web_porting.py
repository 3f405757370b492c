"""The porting proof: examples/notebook is one app written for Flask and for hatchway.web.

1. The two sources differ only in imports and in the line that constructs the app.
2. The same table of requests, sent over real HTTP to Flask (on Werkzeug's server) and to
   hatchway.web (on hatchway's server), gets the same status, the headers that matter and the
   same body from both. Rows where the two differ on purpose say so and what they compare;
   docs/web.md lists each difference.
"""

import contextlib
import re
import threading
from pathlib import Path

import pytest
import requests
from support import load_module
from werkzeug.serving import make_server as werkzeug_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notebook"
HANDBOOK = (EXAMPLE / "files" / "handbook.txt").read_bytes()
CSS = (EXAMPLE / "static" / "style.css").read_bytes()

# Normalised away before comparing sources: import lines and the constructor line.
_IMPORT = re.compile(r"^(from (flask|werkzeug|hatchway)[\w.]* import .*|import (flask|hatchway).*)$")
_CONSTRUCTOR = re.compile(r"^\s*app = (Flask|App)\(__name__, (?P<args>.*)\)$")


def _normalised(path):
    out = []
    for line in path.read_text().splitlines():
        if _IMPORT.match(line):
            continue
        m = _CONSTRUCTOR.match(line)
        if m:
            out.append(f"    app = <constructor>({m.group('args')})")
            continue
        out.append(line)
    return out


def test_sources_differ_only_in_imports_and_constructor():
    flask_src = _normalised(EXAMPLE / "flask_app.py")
    hatchway_src = _normalised(EXAMPLE / "hatchway_app.py")
    assert flask_src == hatchway_src
    # And the normalisation really removed something from each (it cannot pass vacuously).
    assert len(flask_src) < len((EXAMPLE / "flask_app.py").read_text().splitlines())
    assert any("<constructor>" in line for line in flask_src)
    assert "from flask import" in (EXAMPLE / "flask_app.py").read_text()
    assert "from hatchway.web import" in (EXAMPLE / "hatchway_app.py").read_text()


def _load(name):
    return load_module(EXAMPLE / f"{name}.py", f"notebook_{name}")


@contextlib.contextmanager
def _werkzeug(app):
    server = werkzeug_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# The headers compared on every row (when either side sends them).
HEADERS = ("Content-Type", "Content-Length", "Location", "Content-Disposition", "Content-Range",
           "Accept-Ranges", "Cache-Control", "Vary", "Allow", "Content-Encoding")
ALL = ("status", "headers", "body", "cookies")


def _etag(memo):
    return memo["handbook_etag"]


# (name, method, path, request kwargs or a function of the memo, what to compare)
ROWS = [
    ("index, anonymous", "GET", "/", {}, ALL),
    ("stylesheet", "GET", "/static/style.css", {}, ALL),
    ("stylesheet revalidated", "GET", "/static/style.css",
     lambda m: {"headers": {"If-None-Match": m["css_etag"]}}, ALL),
    ("stylesheet If-Modified-Since", "GET", "/static/style.css",
     lambda m: {"headers": {"If-Modified-Since": m["css_lm"]}}, ALL),
    ("missing static file", "GET", "/static/missing.css", {}, ALL),
    ("static traversal", "GET", "/static/%2e%2e/flask_app.py", {}, ALL),
    ("unknown page", "GET", "/no/such/page", {}, ALL),
    ("search is escaped", "GET", "/?q=<script>alert(1)</script>", {}, ALL),
    ("wrong method", "POST", "/", {}, ("status", "body")),
    ("upload needs login", "GET", "/upload", {}, ALL),
    ("login form", "GET", "/auth/login", {}, ALL),
    ("strict slashes", "GET", "/auth/login/", {}, ALL),
    ("login missing field", "POST", "/auth/login", {"data": {"username": "ada"}}, ALL),
    ("login wrong password", "POST", "/auth/login", {"data": {"username": "ada", "password": "x"}}, ALL),
    ("login unknown user", "POST", "/auth/login",
     {"data": {"username": "<b>eve</b>", "password": "x"}}, ALL),
    ("login", "POST", "/auth/login", {"data": {"username": "ada", "password": "lovelace"}}, ALL),
    ("index shows the welcome flash", "GET", "/", {}, ALL),
    ("flash is gone on the next page", "GET", "/", {}, ALL),
    ("api me", "GET", "/api/me", {}, ALL),
    ("upload form", "GET", "/upload", {}, ALL),
    ("upload a file with a note", "POST", "/upload",
     {"files": {"file": ("report.txt", b"quarterly numbers\n" * 100, "text/plain")}, "data": {"note": "Q3"}},
     ALL),
    ("index lists the upload", "GET", "/", {}, ALL),
    ("upload without a file", "POST", "/upload", {"data": {"note": "none"}}, ALL),
    ("upload form shows the error", "GET", "/upload", {}, ALL),
    ("upload with a traversal name", "POST", "/upload",
     {"files": {"file": ("../../etc/passwd", b"root:x:0:0\n", "text/plain")}}, ALL),
    ("upload with a name that sanitises to nothing", "POST", "/upload",
     {"files": {"file": ("../..", b"x", "text/plain")}}, ALL),
    ("read the sanitised upload", "GET", "/uploads/etc_passwd", {}, ("status", "body", "headers")),
    ("read the report", "GET", "/uploads/report.txt", {}, ("status", "body", "headers")),
    ("missing upload", "GET", "/uploads/nope.txt", {}, ALL),
    ("upload traversal", "GET", "/uploads/..%2Fhatchway_app.py", {}, ALL),
    ("upload too large", "POST", "/upload",
     {"files": {"file": ("big.bin", b"\0" * (80 * 1024), "application/octet-stream")}}, ALL),
    ("index after the uploads", "GET", "/", {}, ALL),
    ("handbook download", "GET", "/handbook", {}, ALL),
    ("handbook HEAD", "HEAD", "/handbook", {}, ALL),
    ("handbook first 100 bytes", "GET", "/handbook", {"headers": {"Range": "bytes=0-99"}}, ALL),
    ("handbook last 64 bytes", "GET", "/handbook", {"headers": {"Range": "bytes=-64"}}, ALL),
    ("handbook from 16000", "GET", "/handbook", {"headers": {"Range": "bytes=16000-"}}, ALL),
    ("handbook range past the end", "GET", "/handbook", {"headers": {"Range": "bytes=99999-"}},
     ("status", "Content-Range")),  # 416: each framework's own error body
    ("handbook revalidated", "GET", "/handbook", lambda m: {"headers": {"If-None-Match": _etag(m)}}, ALL),
    ("handbook If-Range current", "GET", "/handbook",
     lambda m: {"headers": {"Range": "bytes=10-19", "If-Range": _etag(m)}}, ALL),
    ("handbook If-Range stale", "GET", "/handbook",
     {"headers": {"Range": "bytes=10-19", "If-Range": '"stale"'}}, ALL),
    ("admin is hidden from ada", "GET", "/admin", {}, ALL),
    ("logout", "GET", "/auth/logout", {}, ALL),
    ("index shows the logout flash", "GET", "/", {}, ALL),
    ("api me logged out", "GET", "/api/me", {}, ALL),
    ("uploads need login again", "GET", "/uploads/report.txt", {}, ALL),
    ("forged session cookie", "GET", "/api/me", {"cookies": {"session": "eyJ1c2VyIjoiZ3JhY2UifQ.forged.sig"}},
     ALL),
    ("login as grace", "POST", "/auth/login", {"data": {"username": "grace", "password": "hopper"}}, ALL),
    ("admin for grace", "GET", "/admin", {}, ALL),
]


def _cookie_names(resp):
    return sorted(c.split("=", 1)[0] for c in resp.raw.headers.getlist("Set-Cookie"))


def _view(resp, compare):
    out = {}
    if "status" in compare:
        out["status"] = resp.status_code
    if "body" in compare:
        out["body"] = resp.content
    if "headers" in compare:
        out["headers"] = {h: resp.headers.get(h) for h in HEADERS}
    for h in HEADERS:
        if h in compare:
            out[h] = resp.headers.get(h)
    if "cookies" in compare:
        out["cookies"] = _cookie_names(resp)
    return out


def _drive(base, rows):
    s = requests.Session()
    memo = {}
    seen = []
    for name, method, path, kwargs, compare in rows:
        kw = kwargs(memo) if callable(kwargs) else dict(kwargs)
        cookies = kw.pop("cookies", None)
        if cookies is not None:
            # A forged cookie replaces the real one for this request only.
            resp = requests.request(method, base + path, cookies=cookies, allow_redirects=False, timeout=20, **kw)
        else:
            resp = s.request(method, base + path, allow_redirects=False, timeout=20, **kw)
        if path == "/static/style.css" and resp.status_code == 200:
            memo["css_etag"] = resp.headers["ETag"]
            memo["css_lm"] = resp.headers["Last-Modified"]
        if path == "/handbook" and resp.status_code == 200 and "ETag" in resp.headers:
            memo["handbook_etag"] = resp.headers["ETag"]
        seen.append((name, _view(resp, compare), resp))
    return seen


@pytest.fixture
def both(tmp_path, serve):
    flask_mod = _load("flask_app")
    hatchway_mod = _load("hatchway_app")
    flask_app = flask_mod.create_app(str(tmp_path / "flask-uploads"))
    hatchway_app = hatchway_mod.create_app(str(tmp_path / "hatchway-uploads"))
    with _werkzeug(flask_app) as flask_base:
        yield flask_base, serve(hatchway_app), (flask_app, hatchway_app)


@pytest.mark.slow
def test_same_requests_same_answers(both):
    flask_base, hatchway_base, _ = both
    assert len(ROWS) >= 30
    flask_seen = _drive(flask_base, ROWS)
    hatchway_seen = _drive(hatchway_base, ROWS)
    mismatches = []
    for (name, fview, _fresp), (_, hview, _hresp) in zip(flask_seen, hatchway_seen):
        if fview != hview:
            diff = {k: (fview[k], hview.get(k)) for k in fview if fview[k] != hview.get(k)}
            mismatches.append(f"{name}: {diff}")
    assert not mismatches, "\n".join(mismatches)

    # The answers are the right ones, not just equal (spot checks on the hatchway side).
    by_name = {name: resp for name, _, resp in hatchway_seen}
    assert by_name["stylesheet"].content == CSS
    assert by_name["stylesheet revalidated"].status_code == 304
    assert by_name["login"].status_code == 302 and by_name["login"].headers["Location"] == "/"
    assert b"Welcome back, ada!" in by_name["index shows the welcome flash"].content
    assert b"Welcome back" not in by_name["flash is gone on the next page"].content
    assert b"Uploaded report.txt (1800 bytes): Q3" in by_name["index lists the upload"].content
    assert b"&lt;script&gt;" in by_name["search is escaped"].content
    assert by_name["read the sanitised upload"].content == b"root:x:0:0\n"
    assert by_name["upload too large"].status_code == 413
    assert by_name["handbook download"].content == HANDBOOK
    assert by_name["handbook first 100 bytes"].content == HANDBOOK[:100]
    assert by_name["handbook last 64 bytes"].content == HANDBOOK[-64:]
    assert by_name["handbook from 16000"].content == HANDBOOK[16000:]
    assert by_name["handbook range past the end"].status_code == 416
    assert by_name["handbook If-Range stale"].status_code == 200
    assert by_name["api me logged out"].json() == {"files": None, "user": None}
    assert by_name["forged session cookie"].json() == {"files": None, "user": None}
    assert b"Searching for admin" in by_name["admin for grace"].content


@pytest.mark.slow
def test_intentional_differences_are_the_documented_ones(both):
    """Session cookies: hatchway adds SameSite=Lax (Flask sends none); both are HttpOnly."""
    flask_base, hatchway_base, _ = both
    login = {"data": {"username": "ada", "password": "lovelace"}}
    f = requests.post(f"{flask_base}/auth/login", allow_redirects=False, timeout=20, **login)
    h = requests.post(f"{hatchway_base}/auth/login", allow_redirects=False, timeout=20, **login)
    fc, hc = f.headers["Set-Cookie"], h.headers["Set-Cookie"]
    assert "HttpOnly" in fc and "HttpOnly" in hc
    assert "SameSite" not in fc and "SameSite=Lax" in hc
    assert "Secure" not in hc  # plain http: Secure follows the request's scheme
    # Several ranges: hatchway answers multipart/byteranges; Werkzeug refuses with 416.
    rng = {"headers": {"Range": "bytes=0-9,20-29"}}
    assert requests.get(f"{flask_base}/handbook", timeout=20, **rng).status_code == 416
    h = requests.get(f"{hatchway_base}/handbook", timeout=20, **rng)
    assert h.status_code == 206 and h.headers["Content-Type"].startswith("multipart/byteranges")
    assert HANDBOOK[0:10] in h.content and HANDBOOK[20:30] in h.content


@pytest.mark.slow
def test_the_documented_command_serves_the_hatchway_copy(tmp_path):
    """The docstring's `hatchway 'examples.notebook.hatchway_app:create_app(...)'` works as written."""
    from support import Proc, can_connect, free_port, wait_for

    port = free_port()
    uploads = str(tmp_path / "up")
    proc = Proc(["serve", f"examples.notebook.hatchway_app:create_app({uploads!r})", "--bind", f"127.0.0.1:{port}"])
    try:
        wait_for(lambda: can_connect(("127.0.0.1", port)) or proc.p.poll() is not None, 20, what="server up")
        assert proc.p.poll() is None, proc.output()
        s = requests.Session()
        r = s.post(f"http://127.0.0.1:{port}/auth/login", data={"username": "ada", "password": "lovelace"},
                   timeout=10)
        assert r.status_code == 200 and b"Welcome back, ada!" in r.content  # followed the redirect
        r = s.post(f"http://127.0.0.1:{port}/upload", files={"file": ("n.txt", b"note")}, timeout=10)
        assert b"Uploaded n.txt (4 bytes)." in r.content
        r = s.get(f"http://127.0.0.1:{port}/handbook", headers={"Range": "bytes=0-16"}, timeout=10)
        assert r.status_code == 206 and r.content == HANDBOOK[:17]
    finally:
        proc.stop()
