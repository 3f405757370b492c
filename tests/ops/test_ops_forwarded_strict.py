"""Forwarded-header spoofing through a trusted proxy: the reviewed attacks, through a real server."""
import json
import socket
import threading

import pytest

from hatchway.wsgi import make_server


def env_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    keys = ("REMOTE_ADDR", "SCRIPT_NAME", "wsgi.url_scheme", "HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR")
    return [json.dumps({k: environ.get(k) for k in keys}).encode()]


@pytest.fixture
def seen():
    servers = []

    def ask(headers: str, **options):
        srv = make_server("127.0.0.1", 0, env_app, **options)  # the test client is the trusted 127.0.0.1 proxy
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        with socket.create_connection(srv.server_address, timeout=10) as c:
            c.sendall(("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + headers + "\r\n").encode("latin-1"))
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    yield ask
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("value", [
    'for=6.6.6.6;x=", for=203.0.113.9',           # an unbalanced quote used to swallow the proxy's element
    'for=6.6.6.6;by="a\\"b", for=203.0.113.9',    # a valid quoted-pair used to flip the quote state
])
def test_quotes_in_forwarded_cannot_choose_the_address(seen, value):
    env = seen(f"Forwarded: {value}\r\n", forwarded_headers="forwarded")
    assert env["REMOTE_ADDR"] in ("203.0.113.9", "127.0.0.1")  # the proxy's element, or nothing believed
    assert env["REMOTE_ADDR"] != "6.6.6.6"


def test_the_family_the_proxy_does_not_set_is_stripped(seen):
    env = seen("X-Forwarded-For: 203.0.113.9\r\nForwarded: for=6.6.6.6\r\n")
    assert env["REMOTE_ADDR"] == "203.0.113.9" and env["HTTP_FORWARDED"] is None
    env = seen("X-Forwarded-For: 6.6.6.6\r\nForwarded: for=203.0.113.9\r\n", forwarded_headers="forwarded")
    assert env["REMOTE_ADDR"] == "203.0.113.9" and env["HTTP_X_FORWARDED_FOR"] is None


def test_trusted_ipv6_hops_match_in_any_spelling(seen):
    env = seen("X-Forwarded-For: 203.0.113.9, 2001:DB8::1\r\n", forwarded_allow_ips="127.0.0.1,2001:db8:0:0::1")
    assert env["REMOTE_ADDR"] == "203.0.113.9"


@pytest.mark.parametrize("prefix", ["//evil.example", "/a?b", "/a#b", "/a%2f", "/a\\b", "relative"])
def test_unsafe_prefixes_never_become_script_name(seen, prefix):
    assert seen(f"X-Forwarded-Prefix: {prefix}\r\n")["SCRIPT_NAME"] == ""


def test_a_plain_prefix_still_works(seen):
    assert seen("X-Forwarded-Prefix: /app/\r\nX-Forwarded-Proto: https\r\n") == {
        "REMOTE_ADDR": "127.0.0.1", "SCRIPT_NAME": "/app", "wsgi.url_scheme": "https",
        "HTTP_FORWARDED": None, "HTTP_X_FORWARDED_FOR": None}
