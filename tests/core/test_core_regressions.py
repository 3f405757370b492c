"""Regressions for engine bugs found in review, each through a real socket."""
import socket
import threading

from hatchway.wsgi import make_server


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


def test_shutdown_requested_before_serve_forever_runs_is_not_lost():
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    srv = make_server("127.0.0.1", 0, app)
    # What shutdown() from another thread does while the loop is still starting up.
    srv.worker.request_stop()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive()
    srv.server_close()
