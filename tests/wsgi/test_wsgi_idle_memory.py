"""Memory per idle keep-alive connection (issue 8: at most 4 KiB in the default mode).

Measured as the Python heap the server allocates (tracemalloc, every allocation with a hatchway
frame in its traceback) for 200 connections that each made one request and now sit idle.  The
RSS view of the same thing: `python3 bench/idle_memory.py`."""
import gc
import os
import socket
import subprocess
import sys
import tracemalloc

from support import RunningServer, wait_for

import hatchway

N = 200
LIMIT = 3800  # issue 8 asks <= 4 KiB; 3.5 KiB measured here after the restructure, 3.9 before
PKG = os.path.dirname(os.path.abspath(hatchway.__file__))


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def _server_bytes(snapshot):
    total = 0
    for stat in snapshot.statistics("traceback"):
        if any(frame.filename.startswith(PKG) for frame in stat.traceback):
            total += stat.size
    return total


def measure() -> float:
    srv = RunningServer(_hello, threads=8, validate=False)  # the default mode: threads, the stall hand-off
    clients = []
    try:
        def connect():
            c = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            while not data.endswith(b"hello"):
                data += c.recv(4096)
            clients.append(c)

        for _ in range(20):  # warm caches (header keys, response blocks, free lists)
            connect()
        gc.collect()
        tracemalloc.start(12)
        try:
            before = _server_bytes(tracemalloc.take_snapshot())
            for _ in range(N):
                connect()
            wait_for(lambda: len(srv.srv.worker.conns) >= N + 20, timeout=10)
            gc.collect()
            after = _server_bytes(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        return (after - before) / N
    finally:
        for c in clients:
            c.close()
        srv.close()


def test_idle_keepalive_connection_costs_at_most_4_kib():
    # In a fresh interpreter: what earlier tests left running (servers, threads) would allocate under
    # hatchway frames while this one measures.
    here = os.path.dirname(os.path.abspath(__file__))
    tests = os.path.dirname(here)  # for the support package, as pytest's pythonpath gives it
    code = (f"import sys; sys.path[:0] = [{here!r}, {tests!r}]; "
            "import test_wsgi_idle_memory as t; print(t.measure())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(here)))
    assert proc.returncode == 0, proc.stderr
    per_connection = float(proc.stdout.strip().splitlines()[-1])
    print(f"{per_connection:.0f} B of Python heap per idle keep-alive connection")
    assert per_connection <= LIMIT, per_connection
