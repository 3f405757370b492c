"""Shared fixtures for hatchway.web tests.

``serve`` runs an app on a real socket (port 0) in a background thread and
yields its base URL; tests talk to it with ``requests``.
"""

import contextlib
import threading

import pytest

try:
    from hatchway.wsgi import make_server as _make_server

    SERVER = "hatchway"
except ImportError:  # the serving core is being built on main; see docs/web.md
    from wsgiref.simple_server import WSGIRequestHandler, make_server as _wsgiref_make_server

    class _QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    def _make_server(host, port, app, threaded=False):
        return _wsgiref_make_server(host, port, app, handler_class=_QuietHandler)

    SERVER = "wsgiref"


@contextlib.contextmanager
def running(app, threaded=True):
    server = _make_server("127.0.0.1", 0, app, threaded=threaded)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "server thread did not stop"


@pytest.fixture
def serve():
    """serve(app) -> base URL of the app on a real server."""
    stack = contextlib.ExitStack()

    def start(app, threaded=True):
        return stack.enter_context(running(app, threaded))

    with stack:
        yield start
