"""A request through hatchway.web leaves no reference cycle, on its error paths too.

An exception keeps the frames it passed through, and a frame keeps its locals: a frame that holds the exception
itself (a parameter it re-raises) or the request that holds it is a cycle, which only the cyclic GC frees.  Per
404 that was 35 objects, a request and its events among them.  Real sockets, http.client; the GC is asked what it
would have had to find.
"""
import gc
import http.client
import os

import pytest

import hatchway
from hatchway.web import App, abort, redirect

from support import RunningServer

PKG = os.path.dirname(os.path.abspath(hatchway.__file__))


def build_app():
    app = App(__name__)

    @app.route("/ok")
    def ok():
        return "ok"

    @app.route("/forbidden")
    def forbidden():
        abort(403)

    @app.route("/boom")
    def boom():
        raise ValueError("boom")

    @app.route("/away")
    def away():
        return redirect("/ok")

    @app.route("/dir/")
    def directory():
        return "dir"

    @app.post("/only-post")
    def only_post():
        return "posted"

    return app


def _ours(garbage):
    return [o for o in garbage if type(o).__module__.startswith("hatchway")
            or (type(o).__name__ == "frame" and o.f_code.co_filename.startswith(PKG))]


@pytest.mark.parametrize("path,status", [("/ok", 200), ("/missing", 404), ("/forbidden", 403), ("/boom", 500),
                                         ("/away", 302), ("/dir", 308), ("/only-post", 405)])
def test_a_request_leaves_no_cycles(path, status):
    srv = RunningServer(build_app(), threads=0, validate=False)
    flags = gc.get_debug()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)

    def requests(n):
        for _ in range(n):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == status

    try:
        requests(3)  # first-use caches are not garbage
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        del gc.garbage[:]
        requests(20)
        gc.collect()
        ours = _ours(gc.garbage)
        assert not ours, sorted({type(o).__qualname__ for o in ours})
    finally:
        gc.set_debug(flags)
        del gc.garbage[:]
        conn.close()
        srv.close()
