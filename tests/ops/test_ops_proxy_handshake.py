"""PROXY protocol handshake regressions (bug 4): a partial header costs no CPU while it waits; a silent
handshake does not hold a graceful stop open, one with bytes is still finished."""
import os
import signal
import socket
import time
from pathlib import Path

APP = """
def app(environ, start_response):
    body = environ["REMOTE_ADDR"].encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""
REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
HEADER = b"PROXY TCP4 192.0.2.7 192.0.2.2 5678 80\r\n"


def _cpu(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_all(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _answered(pport, payload=HEADER + REQUEST):
    with socket.create_connection(("127.0.0.1", pport), timeout=30) as s:
        s.sendall(payload)
        return _read_all(s)


def test_partial_proxy_header_does_not_spin(start_server, write_app):
    write_app(APP)
    pport = _free_port()
    srv = start_server("--proxy-bind", f"127.0.0.1:{pport}", "--header-timeout", "2").ready()
    assert _answered(pport).endswith(b"192.0.2.7")
    for partial in (b"PROXY TCP4 1.2", b"\r\n\r\n\x00\r\nQUIT\n\x21\x11"):
        with socket.create_connection(("127.0.0.1", pport), timeout=30) as s:
            s.sendall(partial)
            before, start = _cpu(srv.pid), time.monotonic()
            assert _read_all(s) == b""  # closed at the header timeout
            waited, used = time.monotonic() - start, _cpu(srv.pid) - before
        assert waited > 1.0, waited
        assert used < 0.5, f"{used:.2f}s of CPU while a partial header waited {waited:.1f}s"
    # A header in pieces, the request's first bytes in the same segment as its end.
    with socket.create_connection(("127.0.0.1", pport), timeout=30) as s:
        s.sendall(HEADER[:9])
        srv.wait_log(r"listening")
        s.sendall(HEADER[9:] + REQUEST[:5])
        s.sendall(REQUEST[5:])
        assert _read_all(s).endswith(b"192.0.2.7")


def test_graceful_stop_closes_a_silent_proxy_handshake(start_server, write_app):
    write_app(APP)
    pport = _free_port()
    srv = start_server("--proxy-bind", f"127.0.0.1:{pport}", "--header-timeout", "60", "--graceful-timeout", "60",
                       "--drain-delay", "0").ready()
    silent = socket.create_connection(("127.0.0.1", pport), timeout=30)
    started = socket.create_connection(("127.0.0.1", pport), timeout=30)
    try:
        started.sendall(HEADER[:9])
        assert _answered(pport).endswith(b"192.0.2.7")  # the loop accepted the two connections before it
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert _read_all(silent) == b""  # closed at once, not at the header timeout
        assert time.monotonic() - t0 < 30
        started.sendall(HEADER[9:] + REQUEST)  # a handshake under way is still finished
        assert _read_all(started).endswith(b"192.0.2.7")
        assert srv.wait_exit() == 0
    finally:
        silent.close()
        started.close()


def test_only_allowed_peers_may_send_proxy_headers(start_server, write_app):
    write_app(APP)
    pport = _free_port()
    # 127.0.0.1 (this test) is not an allowed balancer here: its header must not be believed.
    srv = start_server("--proxy-bind", f"127.0.0.1:{pport}", "--proxy-allow-ips", "10.9.9.9").ready()
    try:
        answer = _answered(pport)
    except ConnectionResetError:
        answer = b""
    assert answer == b""  # dropped before its header could name a client
    srv.wait_log(r"may not send PROXY protocol headers")
    # The default allows 127.0.0.1: the same header is then believed.
    pport2 = _free_port()
    start_server("--proxy-bind", f"127.0.0.1:{pport2}").ready()
    assert _answered(pport2).endswith(b"192.0.2.7")
