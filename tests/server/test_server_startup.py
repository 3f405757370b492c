"""What a worker loads at start-up: the error path eagerly, the heavy extras never unless used."""
from __future__ import annotations

import subprocess
import sys
from email.utils import formatdate

from hatchway.http import dates


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_server_without_tls_or_handlers_loads_neither_ssl_nor_email():
    # ssl alone is about 5 MiB of RSS, email and http.client about 2 more (issue 8: <= 20 MiB).
    code = ("import sys, hatchway.cli, hatchway.wsgi.serving, hatchway.http; "
            "print(sorted(m for m in ('ssl', 'email', 'http.client') if m in sys.modules))")
    assert _run(code) == "[]"


def test_the_handler_api_still_imports_from_hatchway_http():
    code = "from hatchway.http import RequestHandler, BaseHTTPRequestHandler; print(RequestHandler.__name__)"
    assert _run(code) == "RequestHandler"


def test_http_date_matches_the_standard_library(monkeypatch):
    for ts in (0, 951782400, 1700000000, 1709251199, 4102444799):
        monkeypatch.setattr(dates.time, "time", lambda ts=ts: ts)
        dates._cache_second = -1
        assert dates.http_date() == formatdate(ts, usegmt=True).encode()


def test_a_body_that_has_arrived_is_parsed_in_one_pass():
    from hatchway.http import Limits, RequestParser

    parser = RequestParser(Limits(), 1 << 20)
    body = b"b" * 4200
    parser.feed(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4200\r\n\r\n" + body)
    (req,) = parser.queue
    assert req.body.complete and len(req.body.chunks) == 1  # one on_body call, no 4 KiB slices
    assert req.body.take() == body


def test_a_flood_of_pipelined_requests_is_still_held_back_past_max_pipelined():
    from hatchway.http import Limits, RequestParser

    parser = RequestParser(Limits(max_pipelined=8), 1 << 20)
    parser.feed(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * 500)
    assert len(parser.queue) <= 8 + 4096 // 27  # at most one 4 KiB slice past the limit
    assert parser.held_back > 0
