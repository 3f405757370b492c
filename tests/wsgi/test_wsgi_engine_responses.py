"""Responses the engine makes itself (issue 12): the Server header as configured, no body for
HEAD, one log line per 408.  Through a real server and raw sockets."""
import logging

import pytest
from support import Recorder


def _boom(environ, start_response):
    raise RuntimeError("boom")


@pytest.mark.parametrize("setting, expected", [("", None), ("edge/2", "edge/2"), (None, "hatchway")])
def test_engine_responses_carry_the_configured_server_header(serve, setting, expected):
    options = {} if setting is None else {"server_header": setting}
    srv = serve(_boom, validate=False, **options)
    with srv.connect() as c:  # a protocol error: 400 by the parser's rules
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 400
        assert resp.get("server") == expected
    with srv.connect() as c:  # an app failure: 500
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 500
        assert resp.get("server") == expected
        assert resp.get("date")


def test_engine_408_carries_the_configured_server_header(serve):
    srv = serve(Recorder(), header_timeout=1, server_header="")
    with srv.connect() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")  # the head never ends
        resp = c.read_response(timeout=10)
        assert resp.status == 408 and resp.get("server") is None


def test_500_to_head_has_no_body_and_keeps_framing(serve):
    srv = serve(_boom, validate=False)
    with srv.connect() as c:
        c.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
        resp = c.read_response(method="HEAD")
        assert resp.status == 500 and resp.body == b""
        assert resp.has_token("connection", "close")
        # Nothing after the head (wait_closed fails on any byte): a body here would be read as
        # the start of the next response.
        c.wait_closed(timeout=8)


def test_one_log_line_per_408(serve, caplog):
    srv = serve(Recorder(), header_timeout=1)
    with caplog.at_level(logging.DEBUG, logger="hatchway"):
        with srv.connect() as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
            assert c.read_response(timeout=10).status == 408
            c.wait_closed(timeout=8)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "408" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "request header timeout: head not received within 1.0s" in lines[0]
