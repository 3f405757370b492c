"""The connection's state machine: every transition real connections make is in the table
(wsgi/connstates.TRANSITIONS), and the table is exactly the diagram in that module's docstring."""
import ast
import pathlib
import re

import pytest

from support import wait_for

from hatchway.wsgi import connstates, exchange
from hatchway.wsgi.connstates import BODY, HEAD, NAMES, TRANSITIONS, WRITING

BIG = 16 << 20  # more than loopback socket buffers hold: the response waits for the reader


def _pairs(pairs):
    return {(NAMES[a], NAMES[b]) for a, b in pairs}


def _table():
    return {(NAMES[a], NAMES[b]) for a, targets in TRANSITIONS.items() for b in targets}


def test_the_table_is_the_docstring_diagram():
    drawn: set = set()
    names = "|".join(NAMES)
    # From the source: the compiled build's module has no __doc__ (its .py is installed beside it).
    doc = ast.get_docstring(ast.parse(pathlib.Path(connstates.__file__).with_name("connstates.py").read_text()))
    for line in doc.splitlines():
        if "-->" not in line:
            continue
        states = re.findall(rf"\b({names})\b", line)
        assert len(states) >= 2, line
        drawn.update(zip(states, states[1:], strict=False))
    assert drawn == _table()


def _app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        start_response("200 OK", [("Content-Length", str(BIG))])
        return [b"x" * BIG]
    if path == "/ignore-body":  # answers without reading the body: the rest is drained
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def transitions():
    seen: list = []
    exchange.record_transitions(seen)
    yield seen
    exchange.record_transitions(None)


def _reached(transitions, state, since):
    """Wait until some connection entered `state` after the first `since` recorded transitions."""
    wait_for(lambda: any(to == state for _, to in transitions[since:]), timeout=10,
             what=f"a transition to {NAMES[state]}")


def _drive(srv, inline, transitions):
    # keep-alive, then two pipelined requests in one segment
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().status == 200
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
               b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().body == b"abc"
        assert c.read_response().status == 200
        # a head in two pieces (HEAD state), a body in two pieces (BODY state)
        mark = len(transitions)
        c.send(b"POST / HTTP/1.1\r\nHost: a\r\n")
        _reached(transitions, HEAD, mark)  # the first piece read on its own
        mark = len(transitions)
        c.send(b"Content-Length: 6\r\n\r\nabc")
        _reached(transitions, BODY, mark)
        c.send(b"def")
        assert c.read_response().body == b"abcdef"
    # write stall: the client reads nothing until the server has filled the socket
    with srv.connect() as c:
        mark = len(transitions)
        c.send(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        if inline:  # a thread blocks on the full socket instead of parking the connection in WRITING
            _reached(transitions, WRITING, mark)
        resp = c.read_response(timeout=30)
        assert resp.status == 200 and len(resp.body) == BIG
    # drain: a body the app leaves unread, still arriving after the response
    with srv.connect() as c:
        c.send(b"POST /ignore-body HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n" + b"b" * 100000)
        if inline:  # the loop buffers the whole body before the app runs: no response before it
            c.send(b"b" * 100000)
        assert c.read_response().body == b"ok"
        if not inline:
            c.send(b"b" * 100000)
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        assert c.read_response().status == 200
    # linger: a protocol error, then a request the client meant to keep alive after Connection: close
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
        assert c.read_response().status == 400
        c.wait_closed(timeout=10)
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert c.read_response().status == 200
        c.wait_closed(timeout=10)
    # header timeout
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
        assert c.read_response(timeout=10).status == 408
        c.wait_closed(timeout=10)


def test_every_transition_made_is_in_the_table(serve, threads, transitions):
    srv = serve(_app, validate=False, header_timeout=1, linger_timeout=0.5)
    _drive(srv, threads == 0, transitions)
    srv.close()  # the idle connections close: their last transitions are recorded too
    seen = _pairs(transitions)
    assert seen <= _table(), f"transitions outside the table: {sorted(seen - _table())}"
    # The drive did reach the states it meant to (a recorder that saw nothing would pass above).
    expected = {("IDLE", "BUSY"), ("BUSY", "IDLE"), ("IDLE", "HEAD"), ("HEAD", "LINGER"),
                ("IDLE", "LINGER"), ("LINGER", "CLOSED"), ("HEAD", "BODY"), ("BODY", "BUSY")}
    if threads == 0:
        expected |= {("BUSY", "WRITING"), ("WRITING", "BUSY")}  # a thread would block instead
    else:
        expected |= {("BUSY", "DRAIN"), ("DRAIN", "IDLE")}  # inline mode buffers the whole body first
    assert expected <= seen, f"not reached: {sorted(expected - seen)}"


def test_recording_is_off_by_default():
    assert exchange._trace is None
