"""Graceful drain on SIGTERM: drain delay, readiness, accepted and queued requests, refusal."""
import http.client
import signal
import socket
import threading
import time

import pytest


def _connect_refused(port) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


# The slow requests say when they are in the app (the test signals only then).
_MARKED_SLOW_APP = """
import sys, time

def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        print("slow request in the app", file=sys.stderr, flush=True)
        time.sleep(float(environ["QUERY_STRING"] or "1"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_sigterm_drains_then_refuses_after_the_delay(start_server, write_app, kit, workers):
    write_app(_MARKED_SLOW_APP)
    delay = 2.0
    srv = start_server("--workers", workers, "--threads", "8", "--drain-delay", str(delay),
                       "--health-path", "/-/ready")
    srv.ready(workers=None if workers == "0" else int(workers))
    port = srv.port
    assert kit.get(port, "/-/ready")[0] == 200
    # Requests in the app when SIGTERM arrives: each must complete.
    slow = []
    threads = [threading.Thread(target=lambda: slow.append(kit.get(port, "/slow?3"))) for _ in range(4)]
    with kit.LoadClient(port, threads=3, max_seconds=60) as client:
        client.wait_successes(100)
        for t in threads:
            t.start()
        # SIGTERM while all four are in the app, not before one has even connected: a connection
        # that sends its request only after the delay is closed unanswered, as it should be.
        kit.wait_for(lambda: srv.stderr().count("slow request in the app") >= 4, what="the slow requests in the app")
        signalled = time.monotonic()
        srv.signal(signal.SIGTERM)
        # Readiness turns 503 at once, while requests are still served during the delay.
        kit.wait_for(lambda: kit.get(port, "/-/ready")[0] == 503, timeout=delay, interval=0.05,
                     what="readiness 503 within the drain delay")
        status, headers, _ = kit.get(port, "/")
        assert status == 200
        kit.wait_for(lambda: _connect_refused(port), timeout=60, interval=0.02, what="refused connections")
        refused_at = time.monotonic()
        client.stop()
    for t in threads:
        t.join(30)
    assert refused_at - signalled >= delay
    assert [s for s, _, _ in slow] == [200] * 4
    # The load client's only failures are new connections turned away once the delay is over.  A
    # connection whose handshake lands in the kernel's accept queue after the workers' last sweep but
    # before the last copy of the listening socket closes is reset rather than refused: Linux has no
    # way to refuse new connections while keeping queued ones (docs/operations.md, "Graceful drain").
    turned_away = ("ConnectionRefusedError", "ConnectionResetError")
    for error, when in zip(client.errors, client.error_times):
        assert error.startswith(turned_away) and when - signalled >= delay, client.errors
    assert client.ok > 100
    assert srv.wait_exit() == 0


def test_sigterm_serves_connections_waiting_in_the_accept_queue(start_server, write_app, kit):
    write_app("""
        import time

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/block":
                time.sleep(2)  # inline: the loop accepts nothing meanwhile
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
    """)
    srv = start_server("--workers", "1", "--threads", "0").ready(workers=1)
    port = srv.port
    blocker = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    blocker.request("GET", "/block")
    srv_log_mark = len(srv.log())
    # These connect while the only worker is stuck in the app: they wait in the kernel's queue.
    queued = []
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        queued.append(s)
    srv.signal(signal.SIGTERM)
    srv.wait_log(r"SIGTERM: draining", start=srv_log_mark)
    assert blocker.getresponse().status == 200
    for s in queued:
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"ok"):
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
        # Then the connection ends: with Connection: close, or closed as idle by the drain.
        assert s.recv(4096) == b""
        s.close()
    assert srv.wait_exit() == 0


def test_idle_keepalive_closes_at_once_and_busy_gets_connection_close(start_server, pid_app, kit):
    srv = start_server("--workers", "1", "--threads", "2", "--graceful-timeout", "60").ready(workers=1)
    port = srv.port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    idle.request("GET", "/")
    idle.getresponse().read()
    busy = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    busy.request("GET", "/")
    busy.getresponse().read()
    busy.request("GET", "/slow?2")
    srv.wait_log(r"ready")
    start = time.monotonic()
    srv.signal(signal.SIGTERM)
    # The idle one is closed: reading from it gives EOF long before the graceful timeout.
    idle.sock.settimeout(30)
    assert idle.sock.recv(1) == b""
    resp = busy.getresponse()
    assert resp.status == 200 and resp.getheader("Connection") == "close"
    assert srv.wait_exit() == 0
    assert time.monotonic() - start < 30


def test_graceful_timeout_forces_the_stop(start_server, pid_app, kit):
    srv = start_server("--workers", "1", "--threads", "2", "--graceful-timeout", "1").ready(workers=1)
    port = srv.port
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /slow?60 HTTP/1.1\r\nHost: x\r\n\r\n")
    kit.wait_for(lambda: True)
    start = time.monotonic()
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit(timeout=30) == 0
    assert time.monotonic() - start < 20
    assert "graceful timeout: closing 1 connection(s) still open" in srv.log()
    s.close()
