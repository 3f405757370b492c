"""Shared fixtures for hatchway.web tests.

``serve`` runs an app on hatchway's own server (``hatchway.wsgi.make_server``)
on port 0 in a background thread and yields its base URL; tests talk to it
with ``requests`` over real sockets.
"""

import contextlib
import threading

import pytest

from hatchway.wsgi import make_server


@contextlib.contextmanager
def running(app, threaded=True):
    # drain_grace: shutdown waits this long for an idle keep-alive connection; these tests test no drain.
    server = make_server("127.0.0.1", 0, app, threaded=threaded, drain_grace=0.05)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        assert not thread.is_alive(), "server thread did not stop"


@pytest.fixture
def serve():
    """serve(app, threaded=True) -> base URL of the app on a real hatchway server."""
    stack = contextlib.ExitStack()

    def start(app, threaded=True):
        return stack.enter_context(running(app, threaded))

    with stack:
        yield start
