"""Regressions for engine bugs found in review, each through a real socket."""
import socket
import threading
import time

from hatchway.wsgi import make_server
from support import wait_for


def serve(app, **options):
    srv = make_server("127.0.0.1", 0, app, **options)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, t


def test_promised_length_with_empty_body_closes_the_connection():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return []

    for threads in (0, 2):
        srv, t = serve(app, threads=threads)
        try:
            with socket.create_connection(srv.server_address, timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            # one head, then the close: the second response must never pose as the first's body
            assert data.count(b"HTTP/1.1 200") == 1 and data.endswith(b"\r\n\r\n")
        finally:
            srv.shutdown()
            srv.server_close()


def test_shutdown_requested_while_serve_forever_starts_is_not_lost():
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    srv = make_server("127.0.0.1", 0, app)
    started = threading.Event()

    def run():
        started.set()
        time.sleep(0.05)  # the race under test: the loop is still starting when shutdown() comes
        srv.serve_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    started.wait(5)
    srv.shutdown()
    t.join(5)
    assert not t.is_alive()
    srv.server_close()
