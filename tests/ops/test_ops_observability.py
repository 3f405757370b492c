"""Access log (json, combined, template), engine-made and aborted lines, request ids, Server-Timing
and the supervisor's /metrics, all on real processes and sockets."""
import http.client
import json
import os
import re
import signal
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

OBS_APP = """
import time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        time.sleep(0.05)
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        def chunks():
            for _ in range(2000):
                time.sleep(0.001)
                yield b"x" * 65536
        return chunks()
    if path == "/body":
        environ["wsgi.input"].read()
    body = environ.get("HTTP_X_REQUEST_ID", "-").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""
REQUIRED = {"time", "remote", "method", "path", "query", "protocol", "status", "bytes_in", "bytes_out",
            "duration_ms", "queue_ms", "app_ms", "write_ms", "request_id", "worker", "error"}


@pytest.fixture
def obs_app(write_app):
    write_app(OBS_APP)


def _lines(path, n, kit, what="access log lines"):
    def enough():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None

    return kit.wait_for(enough, what=what)


def _json_server(start_server, workdir, *args):
    log = workdir / f"access-{time.monotonic_ns()}.log"
    srv = start_server("--access-log", str(log), "--access-log-format", "json", *args).ready()
    return srv, log


def test_json_log_keys_and_phases(start_server, obs_app, workdir, kit):
    srv, log = _json_server(start_server, workdir, "--threads", "1")
    port = srv.port
    assert kit.get(port, "/sleep?a=1&b=2")[0] == 200
    rec = json.loads(_lines(log, 1, kit)[0])
    assert REQUIRED <= set(rec), REQUIRED - set(rec)
    assert (rec["method"], rec["path"], rec["query"], rec["protocol"], rec["status"]) == \
        ("GET", "/sleep", "a=1&b=2", "HTTP/1.1", 200)
    assert rec["remote"] == "127.0.0.1" and rec["worker"] == srv.pid and rec["error"] is None
    assert rec["bytes_out"] == 1 and rec["bytes_in"] > len("GET /sleep?a=1&b=2 HTTP/1.1")
    assert rec["app_ms"] >= 50 and rec["queue_ms"] >= 0 and rec["write_ms"] >= 0
    assert abs(rec["duration_ms"] - (rec["queue_ms"] + rec["app_ms"] + rec["write_ms"])) < 0.01
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"])
    # One app thread, two requests at once: the second waits for the first in the queue.
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(2)]
    for c in conns:
        c.request("GET", "/sleep")
    for c in conns:
        assert c.getresponse().read() == b"-"
        c.close()
    recs = [json.loads(line) for line in _lines(log, 3, kit)[1:]]
    assert max(r["queue_ms"] for r in recs) >= 40, recs
    # A POST's body counts in bytes_in.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/body", body=b"z" * 5000)
    assert c.getresponse().status == 200
    c.close()
    assert json.loads(_lines(log, 4, kit)[3])["bytes_in"] > 5000


def _send(port, data, read=True):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_engine_made_responses_are_logged_with_their_reason(start_server, obs_app, workdir, kit):
    srv, log = _json_server(start_server, workdir, "--header-timeout", "0.5", "--max-body-size", "1000",
                            "--limit-request-field-size", "50", "--body-timeout", "0.3", "--body-min-rate", "1000000")
    port = srv.port
    assert _send(port, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _send(port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ").startswith(b"HTTP/1.1 408")
    assert _send(port, b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n").startswith(
        b"HTTP/1.1 413")
    assert _send(port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 100 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431")
    # A body that trickles in below the minimum rate: 408 while the engine buffers it.
    assert _send(port, b"POST /body HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\nabc").startswith(
        b"HTTP/1.1 408")
    recs = [json.loads(line) for line in _lines(log, 5, kit)]
    by_status = {}
    for r in recs:
        by_status.setdefault(r["status"], []).append(r)
    assert set(by_status) == {400, 408, 413, 431}, recs
    slow_head, slow_body = sorted(by_status[408], key=lambda r: r["method"])
    assert slow_head["method"] == "" and "header" in slow_head["error"].lower()
    assert (slow_body["method"], slow_body["path"]) == ("POST", "/body") and "body" in slow_body["error"].lower()
    by_status = {status: rs[0] for status, rs in by_status.items()}
    for rec in by_status.values():
        assert rec["error"] and rec["bytes_out"] > 0 and rec["duration_ms"] >= 0, rec
    assert "timeout" in slow_head["error"].lower() and slow_head["duration_ms"] >= 400
    assert by_status[413]["method"] == "POST" or by_status[413]["method"] == ""


def test_aborted_response_is_logged_with_the_reason(start_server, obs_app, workdir, kit):
    srv, log = _json_server(start_server, workdir, "--threads", "2")
    port = srv.port
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # a reset: the server's next write fails
    rec = json.loads(_lines(log, 1, kit)[0])
    assert rec["path"] == "/stream" and rec["status"] == 200 and rec["error"].startswith("aborted:"), rec
    assert 0 < rec["bytes_out"] < 2000 * 65536


FORGED_UA = 'evil" 200 999 "-" "x\tq\\'


def test_header_cannot_forge_fields_in_any_format(start_server, obs_app, workdir, kit):
    log = workdir / "combined.log"
    srv = start_server("--access-log", str(log)).ready()
    kit.get(srv.port, "/a", headers={"User-Agent": FORGED_UA, "Referer": 'r"ef'})
    line = _lines(log, 1, kit)[0]
    combined = re.compile(r'^(\S+) - - \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\S+) "((?:[^"\\]|\\.)*)" '
                          r'"((?:[^"\\]|\\.)*)" D=\d+$')
    m = combined.match(line)
    assert m, line
    assert m.group(4) == "200" and m.group(3) == "GET /a HTTP/1.1"
    assert m.group(7) == 'evil\\" 200 999 \\"-\\" \\"x\\x09q\\\\' and m.group(6) == 'r\\"ef'
    srv, jlog = _json_server(start_server, workdir)
    kit.get(srv.port, "/a", headers={"User-Agent": FORGED_UA})
    lines = _lines(jlog, 1, kit)
    assert len(lines) == 1 and json.loads(lines[0])["user_agent"] == FORGED_UA
    tlog = workdir / "template.log"
    srv = start_server("--access-log", str(tlog), "--access-log-format",
                       '{status} "{user_agent}" {path}').ready()
    kit.get(srv.port, "/t", headers={"User-Agent": FORGED_UA})
    assert _lines(tlog, 1, kit)[0] == '200 "evil\\" 200 999 \\"-\\" \\"x\\x09q\\\\" /t'


def test_bad_template_is_one_line_and_exit_2(start_server, obs_app):
    srv = start_server("--access-log-format", "{status} {nope}")
    assert srv.wait_exit() == 2
    assert "unknown access log field 'nope'" in srv.stderr() and len(srv.stderr().strip().splitlines()) == 1


def test_request_id_from_trusted_proxy_or_made_and_echoed(start_server, obs_app, workdir, kit):
    srv, log = _json_server(start_server, workdir, "--request-id")
    port = srv.port
    status, headers, body = kit.get(port, "/", headers={"X-Request-ID": "abc-123"})
    assert body == b"abc-123" and headers["X-Request-ID"] == "abc-123"  # 127.0.0.1 is trusted by default
    status, headers, body = kit.get(port, "/")
    made = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", made) and body == made.encode()
    status, headers, body = kit.get(port, "/", headers={"X-Request-ID": "x" * 500})  # implausible
    assert re.fullmatch(r"[0-9a-f]{16}", headers["X-Request-ID"])
    recs = [json.loads(line) for line in _lines(log, 3, kit)]
    assert [r["request_id"] for r in recs[:2]] == ["abc-123", made]
    # From a peer that is not a trusted proxy the client's id is replaced.
    srv = start_server("--request-id", "--forwarded-allow-ips", "10.9.9.9").ready()
    status, headers, body = kit.get(srv.port, "/", headers={"X-Request-ID": "forged"})
    assert headers["X-Request-ID"] != "forged" and body == headers["X-Request-ID"].encode()


def test_server_timing(start_server, obs_app, kit):
    srv = start_server("--server-timing").ready()
    status, headers, _ = kit.get(srv.port, "/sleep")
    m = re.fullmatch(r"queue;dur=(\d+\.\d{3}), app;dur=(\d+\.\d{3})", headers["Server-Timing"])
    assert m and float(m.group(2)) >= 50 and float(m.group(1)) >= 0, headers
    srv = start_server().ready()
    assert "Server-Timing" not in kit.get(srv.port, "/")[1]


def _metrics(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    finally:
        conn.close()
    samples = {}
    for family in text_string_to_metric_families(text):  # the reference parser accepts our text
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _total(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_metrics_summed_across_two_workers_and_restart_counted(start_server, obs_app, workdir, kit):
    srv = start_server("--workers", "2", "--metrics-bind", "127.0.0.1:0").ready(workers=2)
    mport = int(srv.wait_log(r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))
    port = srv.port
    n = 120
    for i in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # new connections: both workers
        conn.request("GET", "/" if i % 3 else "/missing")
        conn.getresponse().read()
        conn.close()
    kit.wait_for(lambda: _total(_metrics(mport), "hatchway_requests_total") == n,
                 what=f"{n} requests summed in /metrics")
    samples = _metrics(mport)
    assert _total(samples, "hatchway_requests_total", method="GET", status="200") == n
    assert samples[("hatchway_request_duration_seconds_count", ())] == n
    assert samples[("hatchway_queue_wait_seconds_count", ())] == n
    assert samples[("hatchway_request_duration_seconds_bucket", (("le", "+Inf"),))] == n
    assert samples[("hatchway_workers", ())] == 2
    assert ("hatchway_connections", (("state", "idle"),)) in samples
    assert ("hatchway_inflight_requests", ()) in samples and ("hatchway_shed_total", ()) in samples
    workers = srv.children()
    assert len(workers) == 2
    for _ in range(20):
        status, headers, _ = kit.get(port, "/")
    victim = sorted(workers)[0]
    kit.wait_for(lambda: _total(_metrics(mport), "hatchway_requests_total") == n + 20, what="20 more")
    os.kill(victim, signal.SIGKILL)
    kit.wait_for(lambda: _total(_metrics(mport), "hatchway_worker_restarts_total", reason="died") == 1,
                 what="the restart counted")
    kit.wait_for(lambda: len(srv.children() - {victim}) == 2, what="a replacement worker")
    samples = _metrics(mport)
    assert _total(samples, "hatchway_requests_total") == n + 20  # the dead worker's counts are kept
    conn = http.client.HTTPConnection("127.0.0.1", mport, timeout=10)
    conn.request("GET", "/other")
    assert conn.getresponse().status == 404
    conn.close()
