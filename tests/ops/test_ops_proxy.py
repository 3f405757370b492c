"""Trusted proxies: forwarded headers, and the PROXY protocol on a listener."""
import json
import socket
import struct

import pytest

from hatchway.server.proxy_protocol import Incomplete, ProxyProtocolError, V2_SIGNATURE, parse
from hatchway.wsgi.proxy import TrustedPeers, apply_forwarded

ECHO_APP = """
import json

KEYS = ("REMOTE_ADDR", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "SCRIPT_NAME",
        "PATH_INFO", "HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_FORWARDED_PROTO")

def app(environ, start_response):
    body = json.dumps({k: environ.get(k) for k in KEYS}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _env(**extra):
    env = {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "5555", "wsgi.url_scheme": "http", "HTTP_HOST": "internal:8000",
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SCRIPT_NAME": ""}
    env.update(extra)
    return env


def test_x_forwarded_from_trusted_peer_is_applied():
    env = _env(HTTP_X_FORWARDED_FOR="203.0.113.5, 10.0.0.2", HTTP_X_FORWARDED_PROTO="https",
               HTTP_X_FORWARDED_HOST="example.com", HTTP_X_FORWARDED_PREFIX="/api/")
    apply_forwarded(env, TrustedPeers("127.0.0.1,10.0.0.0/8"))
    assert env["REMOTE_ADDR"] == "203.0.113.5"
    assert env["wsgi.url_scheme"] == "https"
    assert env["HTTP_HOST"] == "example.com" and env["SERVER_NAME"] == "example.com"
    assert env["SERVER_PORT"] == "443"
    assert env["SCRIPT_NAME"] == "/api"


def test_client_cannot_forge_past_the_last_trusted_hop():
    env = _env(HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7")
    apply_forwarded(env, TrustedPeers("127.0.0.1"))
    assert env["REMOTE_ADDR"] == "198.51.100.7"  # the hop our proxy saw, not what the client wrote


def test_forwarded_rfc7239():
    env = _env(HTTP_FORWARDED='for="[2001:db8::1]:4711";proto=https;host="shop.example:8443", for=10.1.2.3')
    apply_forwarded(env, TrustedPeers("127.0.0.1, 10.0.0.0/8"), "forwarded")
    assert env["REMOTE_ADDR"] == "2001:db8::1"
    assert env["wsgi.url_scheme"] == "http"  # proto of the nearest element (the second) is not given
    env = _env(HTTP_FORWARDED='for=192.0.2.60;proto=https;host=shop.example:8443')
    apply_forwarded(env, TrustedPeers("127.0.0.1"), "forwarded")
    assert (env["REMOTE_ADDR"], env["wsgi.url_scheme"], env["HTTP_HOST"], env["SERVER_PORT"]) == \
        ("192.0.2.60", "https", "shop.example:8443", "8443")


def test_untrusted_peer_headers_are_stripped():
    env = _env(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="6.6.6.6", HTTP_FORWARDED="for=6.6.6.6",
               HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_HOST="evil", HTTP_X_FORWARDED_PORT="1",
               HTTP_X_FORWARDED_PREFIX="/x")
    apply_forwarded(env, TrustedPeers("127.0.0.1"))
    assert env == _env(REMOTE_ADDR="192.0.2.1")


def test_star_trusts_everyone_and_garbage_is_ignored():
    env = _env(REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="not-an-ip", HTTP_X_FORWARDED_PROTO="gopher",
               HTTP_X_FORWARDED_HOST="a b", HTTP_X_FORWARDED_PORT="99999", HTTP_X_FORWARDED_PREFIX="nope")
    before = dict(env)
    apply_forwarded(env, TrustedPeers("*"))
    assert env == before


def test_forwarded_headers_over_real_sockets(start_server, write_app, kit):
    write_app(ECHO_APP)
    trusted = start_server("--forwarded-allow-ips", "127.0.0.1").ready()
    untrusted = start_server("--forwarded-allow-ips", "10.0.0.1").ready()
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "ex.com"}
    seen = json.loads(kit.get(trusted.port, "/", headers)[2])
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"], seen["HTTP_HOST"]) == ("203.0.113.9", "https", "ex.com")
    seen = json.loads(kit.get(untrusted.port, "/", headers)[2])
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["wsgi.url_scheme"] == "http"
    assert seen["HTTP_X_FORWARDED_FOR"] is None and seen["HTTP_HOST"].startswith("127.0.0.1")


# -- PROXY protocol ----------------------------------------------------------------------------------------
def _v2(src, sport, dst="127.0.0.1", dport=80, command=1):
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIGNATURE + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(body)) + body


def test_proxy_protocol_parsing():
    assert parse(b"PROXY TCP4 192.0.2.1 192.0.2.2 5678 80\r\nGET /") == (40, ("192.0.2.1", 5678))
    assert parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n")[1] == ("2001:db8::1", 1)
    assert parse(b"PROXY UNKNOWN\r\n") == (15, None)
    assert parse(_v2("198.51.100.3", 4000)) == (28, ("198.51.100.3", 4000))
    assert parse(_v2("198.51.100.3", 4000, command=0))[1] is None
    for partial in (b"PROX", b"PROXY TCP4 1.2.3.4", V2_SIGNATURE[:5], _v2("1.2.3.4", 1)[:20]):
        with pytest.raises(Incomplete):
            parse(partial)
    for bad in (b"GET / HTTP/1.1\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n", b"PROXY TCP4 ::1 ::1 1 2\r\n",
                b"PROXY " + b"x" * 200):
        with pytest.raises(ProxyProtocolError):
            parse(bad)


def test_proxy_protocol_listener(start_server, write_app, kit, workdir):
    write_app(ECHO_APP)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    pport = probe.getsockname()[1]
    probe.close()
    srv = start_server("--workers", "1", "--proxy-bind", f"127.0.0.1:{pport}").ready(workers=1)
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = kit.raw(pport, b"PROXY TCP4 192.0.2.44 192.0.2.2 5678 80\r\n" + request)
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["REMOTE_ADDR"] == "192.0.2.44"
    answer = kit.raw(pport, _v2("198.51.100.3", 4000) + request)
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["REMOTE_ADDR"] == "198.51.100.3"
    # The header may arrive in pieces.
    with socket.create_connection(("127.0.0.1", pport), timeout=30) as s:
        header = _v2("198.51.100.4", 4001)
        s.sendall(header[:10])
        srv.wait_log(r"ready")
        s.sendall(header[10:] + request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["REMOTE_ADDR"] == "198.51.100.4"
    # Without the header: closed (or reset, as our unread bytes are discarded), nothing served.
    try:
        assert kit.raw(pport, request) == b""
    except ConnectionResetError:
        pass
    # The plain listener beside it needs no header.
    assert json.loads(kit.get(srv.port)[2])["REMOTE_ADDR"] == "127.0.0.1"
