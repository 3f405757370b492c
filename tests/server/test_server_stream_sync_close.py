"""Sync-mode TCPServer: server_close() from another thread honours graceful_timeout (bug 8)."""
import threading
import time

import pytest

from hatchway.server import StreamRequestHandler, TCPServer
from support import DEADLINE, connect, wait_for


class OneLine(StreamRequestHandler):
    read_timeout = 600.0  # far beyond the test: only server_close() may end the wait

    def handle(self):
        self.server.entered.set()
        line = self.rfile.readline()
        self.wfile.write(b"got: " + line)


def _start(graceful_timeout):
    srv = TCPServer(("127.0.0.1", 0), OneLine, concurrency="sync", graceful_timeout=graceful_timeout)
    srv.entered = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return srv, thread


def _close_in_thread(srv):
    done = threading.Event()
    closer = threading.Thread(target=lambda: (srv.server_close(), done.set()), daemon=True)
    closer.start()
    return closer, done


@pytest.mark.slow
def test_server_close_cuts_a_silent_client_after_graceful_timeout():
    srv, thread = _start(graceful_timeout=0.5)
    sock = connect(srv.server_address)
    try:
        assert srv.entered.wait(DEADLINE)
        t0 = time.monotonic()
        closer, done = _close_in_thread(srv)
        assert done.wait(DEADLINE), "server_close() waited on the silent client past graceful_timeout"
        assert time.monotonic() - t0 >= 0.4  # the handler had its graceful window first
        assert sock.recv(100) == b""  # its socket was shut down: the client sees EOF
        thread.join(DEADLINE)
        assert not thread.is_alive()
    finally:
        sock.close()


def test_server_close_lets_a_handler_finish_within_graceful_timeout():
    srv, thread = _start(graceful_timeout=DEADLINE)
    sock = connect(srv.server_address)
    try:
        assert srv.entered.wait(DEADLINE)
        closer, done = _close_in_thread(srv)
        wait_for(lambda: srv._shutdown_request, what="server_close to begin")
        assert not done.is_set()
        sock.sendall(b"late\n")
        assert sock.recv(100) == b"got: late\n"
        assert done.wait(DEADLINE)
        thread.join(DEADLINE)
        assert not thread.is_alive()
    finally:
        sock.close()
