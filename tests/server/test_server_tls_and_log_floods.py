"""A TLS listener meets plaintext HTTP (issue 12: answer 400 as nginx does), and events that come
in floods (evictions, failed handshakes) are summarised instead of logged one line each."""
from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading

import pytest
import trustme

from hatchway.server.log_summary import LogSummary
from hatchway.server.tls_handshake import PLAIN_HTTP_BODY, looks_like_http
from hatchway.wsgi import make_server
from support import wait_for


def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = tmp_path_factory.mktemp("certs")
    cert.private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return str(d / "server.pem"), client


class Served:
    def __init__(self, **options):
        self.srv = make_server("127.0.0.1", 0, app, **options)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        closer = threading.Thread(target=self.srv.shutdown, daemon=True)
        closer.start()
        closer.join(15)
        self.srv.server_close()
        self.thread.join(10)


@pytest.mark.parametrize("threads", [8, 0])
def test_plain_http_to_a_tls_port_gets_400_and_tls_still_works(certs, threads):
    pem, client_ctx = certs
    with Served(ssl_context=(pem, pem), threads=threads) as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert (r.status, r.read()) == (400, PLAIN_HTTP_BODY)
        assert r.getheader("Connection") == "close"
        conn.close()
        tls = http.client.HTTPSConnection("127.0.0.1", s.port, timeout=10, context=client_ctx)
        tls.request("GET", "/")
        r = tls.getresponse()
        assert (r.status, r.read()) == (200, b"ok")
        tls.close()


def test_the_plain_http_answer_survives_a_request_body(certs):
    # The request's unread bytes must not turn the close into a reset that loses the 400.
    pem, _ = certs
    with Served(ssl_context=(pem, pem), server_header="") as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        conn.request("POST", "/upload", body=b"x" * 200_000)
        r = conn.getresponse()
        assert r.status == 400 and r.getheader("Server") is None  # --server-header '' is honoured
        conn.close()


def test_non_http_bytes_on_a_tls_port_are_closed_without_an_answer(certs):
    pem, _ = certs
    with Served(ssl_context=(pem, pem)) as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"\x16\x03\x01\x00\x05junk!")  # a TLS record header with garbage inside
        data = b""
        try:
            while chunk := sock.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        sock.close()
        assert not data.startswith(b"HTTP/")


def test_looks_like_http():
    assert looks_like_http(b"GET / HTTP/1.1\r\n")
    assert looks_like_http(b"PO")  # cut short: no TLS record starts with a letter
    assert not looks_like_http(b"\x16\x03\x01\x02\x00")
    assert not looks_like_http(b"get / HTTP/1.1")
    assert not looks_like_http(b"GET/")


def test_failed_handshakes_are_summarised(certs, caplog):
    pem, _ = certs
    caplog.set_level(logging.DEBUG, logger="hatchway.error")
    with Served(ssl_context=(pem, pem)) as s:
        for _ in range(30):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(b"\x16\x03\x01\x00\x05junk!")
            try:
                sock.recv(4096)
            except ConnectionResetError:
                pass
            sock.close()
        wait_for(lambda: any("more: TLS handshake failed" in r.getMessage() for r in caplog.records),
                 timeout=10, what="the summary line")
    lines = [r.getMessage() for r in caplog.records if "handshake" in r.getMessage()]
    assert len(lines) <= 4, lines  # 30 failures: the first in full, the rest counted (one line a second)
    counted = sum(int(m.split()[1]) for m in lines if m.startswith("... "))
    assert counted + sum(1 for m in lines if not m.startswith("... ")) == 30, lines


def test_evictions_at_the_connection_limit_are_summarised(caplog):
    caplog.set_level(logging.INFO, logger="hatchway.error")
    with Served(threads=0, max_connections=4) as s:
        idle = []
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert c.recv(4096).startswith(b"HTTP/1.1 200")  # each new client is admitted
            idle.append(c)
        wait_for(lambda: any("more: connection limit reached" in r.getMessage() for r in caplog.records),
                 timeout=10, what="the summary line")
        for c in idle:
            c.close()
    lines = [r.getMessage() for r in caplog.records if "connection limit" in r.getMessage()]
    assert len(lines) <= 4, lines  # 36 evictions
    counted = sum(int(m.split()[1]) for m in lines if m.startswith("... "))
    assert counted + sum(1 for m in lines if not m.startswith("... ")) == 36, lines


def test_log_summary_counts_within_a_window_and_reports_once():
    records = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("hatchway.test.summary")
    log.propagate = False
    log.addHandler(Capture())
    log.setLevel(logging.INFO)
    summary = LogSummary(log, window=1.0)
    for i in range(100):
        summary.note(10.0 + i / 1000, logging.INFO, "thing happened", "thing %d", i)
    summary.flush(10.5)  # window still open: nothing yet
    assert records == ["thing 0"]
    summary.flush(11.0)
    assert records == ["thing 0", "... 99 more: thing happened (in the last 1.0s)"]
    summary.note(12.0, logging.INFO, "thing happened", "thing %d", 100)  # a new window: in full again
    summary.flush(20.0)  # a lone event needs no summary
    assert records[-1] == "thing 100" and len(records) == 3
