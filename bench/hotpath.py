"""Per-request CPU cost of the hot path with the app inline, without a load generator.

The default config (threads=8, the stall hand-off: fast requests stay inline); HOTPATH_THREADS=0
for pure inline.

One keep-alive connection over a loopback TCP pair: write a request, let the connection handle
it, read the response.  Reports µs per request and Python calls per request (cProfile).
Use it to compare before/after a hot-path change; absolute numbers include two syscalls each side.

    python bench/hotpath.py [--n 20000] [--profile]
    HOTPATH_APP=echo python bench/hotpath.py     # a 4 KiB POST echoed back (bench/servers.py's post-echo)
    HOTPATH_APP=json python bench/hotpath.py     # ka-json's app
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import os
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, for apps.py (also under python -P)
# HOTPATH_INSTALLED=1: measure the hatchway installed in this interpreter (the compiled build), not the tree.
if not os.environ.get("HOTPATH_INSTALLED"):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps import echo, ka_json  # noqa: E402  (bench/apps.py: the servers benchmark's apps)
from hatchway.server.config import ServerConfig  # noqa: E402
from hatchway.server.listeners import open_listeners  # noqa: E402
from hatchway.wsgi.serving import WSGIServer  # noqa: E402

REQUEST = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"


POST = (b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: bench\r\nContent-Length: 4096\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + b"p" * 4096)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"Hello, World!"]


APPS = {"hello": (hello, REQUEST), "echo": (echo, POST), "json": (ka_json, REQUEST)}
APP, REQUEST = APPS[os.environ.get("HOTPATH_APP", "hello")]


def setup():
    listeners = open_listeners(["127.0.0.1:0"])
    srv = WSGIServer(listeners, APP, ServerConfig(threads=int(__import__("os").environ.get("HOTPATH_THREADS", "8"))))
    client = socket.create_connection(listeners[0].address)
    server_sock, addr = listeners[0].sock.accept()
    server_sock.setblocking(False)
    server_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    worker = srv.worker
    worker._epoll = __import__("select").epoll()
    conn = srv._connection(worker, server_sock, addr, listeners[0])
    worker.conns[conn.fd] = conn
    worker._epoll.register(conn.fd, 1)
    return srv, client, conn


def run(n: int, client, conn) -> float:
    send = client.send
    recv = client.recv
    on_readable = conn.on_readable
    t0 = time.perf_counter()
    for _ in range(n):
        send(REQUEST)
        on_readable()
        recv(65536)
    return (time.perf_counter() - t0) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    srv, client, conn = setup()
    run(2000, client, conn)
    if args.profile:
        pr = cProfile.Profile()
        pr.enable()
        run(args.n, client, conn)
        pr.disable()
        st = pstats.Stats(pr)
        print(f"python calls per request: {st.total_calls / args.n:.1f}")
        st.sort_stats(os.environ.get("HOTPATH_SORT", "tottime")).print_stats(int(os.environ.get("HOTPATH_TOP", "15")))
        return
    results = [run(args.n, client, conn) for _ in range(args.rounds)]
    print(f"inline hot path: median {statistics.median(results):.2f} µs/request "
          f"(min {min(results):.2f}, rounds {len(results)} x {args.n})")


if __name__ == "__main__":
    main()
