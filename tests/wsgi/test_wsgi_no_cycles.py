"""A connection, once closed, leaves no reference cycle behind: reference counting frees all of it.

A cycle per connection (the parser and its tokenizer's bound methods, the connection and its cached
start_response) made a close-hello load run the cyclic GC some 150 times a second, including collections of
the whole heap, which stall every connection of the worker.  Real sockets, real clients; the GC is asked what it
would have had to find.
"""
import gc
import http.client
import socket

import pytest

from support import RunningServer, wait_for


def _app(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("boom")
    body = environ["wsgi.input"].read() or b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _traffic(port):
    for _ in range(20):  # one request per connection
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/", headers={"Connection": "close"})
        assert c.getresponse().read() == b"hello"
        c.close()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # keep-alive, with bodies and a 500
    for i in range(10):
        c.request("POST", "/", body=b"x" * (i * 1000 + 1))
        assert len(c.getresponse().read()) == i * 1000 + 1
    c.request("GET", "/fail")
    r = c.getresponse()
    assert r.status == 500
    r.read()
    c.close()
    for raw in (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", b"BREW / HTTP/1.1\r\n\r\n"):  # 400, 501
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(raw)
        assert s.recv(4096)[:10] in (b"HTTP/1.1 4", b"HTTP/1.1 5"), raw
        s.close()


def _minus_other_servers(garbage, server):
    """garbage without what an earlier test's server left: a stopped server is one cycle (worker and hand-off
    refer to each other), freed by the GC once its last thread has ended, which can fall inside this test's
    window.  Everything reachable, within the garbage, from another WSGIServer is that server's."""
    ids = {id(o): o for o in gc.garbage}
    todo = [o for o in garbage if type(o).__name__ == "WSGIServer" and o is not server]
    theirs = {id(o) for o in todo}
    while todo:
        for ref in gc.get_referents(todo.pop()):
            if id(ref) in ids and id(ref) not in theirs:
                theirs.add(id(ref))
                todo.append(ref)
    return [o for o in garbage if id(o) not in theirs]


@pytest.mark.parametrize("threads", [8, 0], ids=["default", "inline"])
def test_closed_connections_leave_no_cycles(threads):
    srv = RunningServer(_app, threads=threads, validate=False)
    flags = gc.get_debug()
    try:
        _traffic(srv.port)  # warm: first-use caches and imports are not garbage
        wait_for(lambda: not srv.srv.worker.conns, timeout=10)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        del gc.garbage[:]
        _traffic(srv.port)
        wait_for(lambda: not srv.srv.worker.conns, timeout=10)
        gc.collect()
        ours = _minus_other_servers([o for o in gc.garbage if type(o).__module__.startswith("hatchway")], srv.srv)
        assert not ours, sorted({type(o).__qualname__ for o in ours})
    finally:
        gc.set_debug(flags)
        del gc.garbage[:]
        srv.close()
