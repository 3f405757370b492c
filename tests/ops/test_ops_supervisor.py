"""The prefork supervisor: liveness, replacement, recycling, scaling by signal, start-up errors."""
import os
import signal
import time


def test_kill_9_worker_is_replaced_and_only_its_requests_fail(start_server, pid_app, kit):
    srv = start_server("--workers", "2").ready(workers=2)
    port = srv.port
    victims = sorted(srv.children())
    assert len(victims) == 2
    victim = victims[0]
    with kit.LoadClient(port, threads=4, max_seconds=60) as client:
        client.wait_successes(200)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        kit.wait_for(lambda: len(srv.children() - {victim}) == 2, timeout=2.0, interval=0.01,
                     what="a replacement worker within 2 s")
        replaced_in = time.monotonic() - killed_at
        new = (srv.children() - set(victims)).pop()
        srv.wait_log(rf"worker {new} ready")
        client.wait_successes(200)
    assert replaced_in < 2.0
    survivor = (set(victims) - {victim}).pop()
    pids = {int(body.split()[1]) for _, body in client.bodies}
    assert survivor in pids
    # Each client thread has at most one request in flight, and only those on the victim can fail.
    assert len(client.errors) <= 4, client.errors
    for last in client.failed_after:
        assert last is not None and int(last.split()[1]) == victim, (client.errors, client.failed_after)
    # The replacement takes new connections.
    kit.wait_for(lambda: int(kit.get(port)[2].split()[1]) == new, what="a request served by the replacement")
    assert f"worker {victim} died (signal SIGKILL)" in srv.log()


def test_stuck_loop_is_detected_stack_dumped_and_replaced(start_server, write_app, kit):
    write_app("""
        def spin_forever():
            while True:
                pass

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/spin":
                spin_forever()
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
    """)
    # --threads 0: the app inline on the loop, so the spin stops the loop itself (with threads, the
    # stall hand-off moves the spinning request off the loop and the heartbeat goes on).
    srv = start_server("--workers", "1", "--threads", "0", "--heartbeat-timeout", "2").ready(workers=1)
    port = srv.port
    (stuck,) = srv.children()
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET /spin HTTP/1.1\r\nHost: x\r\n\r\n")
        srv.wait_log(rf"worker {stuck} sent no heartbeat")
        srv.wait_log(r"in spin_forever")  # faulthandler's dump of the stuck thread
        srv.wait_log(r"worker (\d+) ready", start=srv.log().index("sent no heartbeat"))
    finally:
        s.close()
    assert kit.get(port)[0] == 200
    assert stuck not in srv.children()


def test_request_watchdog_logs_the_stuck_stack(start_server, write_app, kit):
    write_app("""
        import time

        def deliberately_stuck_here():
            time.sleep(4)

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/hang":
                deliberately_stuck_here()
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
    """)
    srv = start_server("--workers", "1", "--threads", "2", "--timeout", "1").ready(workers=1)
    port = srv.port
    import threading
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", kit.get(port, "/hang")))
    t.start()
    m = srv.wait_log(r"request GET /hang from 127\.0\.0\.1 has been running for [\d.]+s \(timeout 1\.0s\); its stack:")
    srv.wait_log(r"in deliberately_stuck_here")
    # The other thread still serves while one is stuck: nothing is killed by --timeout.
    assert kit.get(port)[0] == 200
    t.join(30)
    assert result["r"][0] == 200
    srv.wait_log(r"request GET /hang from 127\.0\.0\.1 finished after")
    assert srv.count(r"has been running for") == 1  # logged once per stuck request
    assert m is not None


def test_hard_timeout_recycles_once_other_requests_are_done(start_server, write_app, kit):
    write_app("""
        import os, time

        def app(environ, start_response):
            if environ["PATH_INFO"] == "/hang":
                time.sleep(60)
            if environ["PATH_INFO"] == "/slow":
                time.sleep(2.5)
            body = str(os.getpid()).encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
    """)
    srv = start_server("--workers", "1", "--threads", "4", "--timeout", "2", "--hard-timeout", "3",
                       "--graceful-timeout", "50").ready(workers=1)
    port = srv.port
    (old,) = srv.children()
    import http.client
    import socket
    import threading
    # A keep-alive connection pinned to the old worker, for a request that is still running when
    # the worker is retired.
    pinned = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    pinned.request("GET", "/")
    assert pinned.getresponse().read() == str(old).encode()
    hang = socket.create_connection(("127.0.0.1", port))
    hang.sendall(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
    slow = {}

    def slow_request():
        pinned.request("GET", "/slow")
        resp = pinned.getresponse()
        slow["r"] = (resp.status, resp.getheader("Connection"), resp.read())

    try:
        # Start /slow before /hang passes the hard timeout: it is in flight when the worker retires.
        srv.wait_log(r"GET /hang from 127\.0\.0\.1 has been running for")
        t = threading.Thread(target=slow_request)
        t.start()
        srv.wait_log(rf"retiring worker {old} \(hard timeout\)")
        t.join(30)
        assert slow["r"] == (200, "close", str(old).encode())
        # The stuck request does not hold the old worker for the 50 s graceful timeout.
        srv.wait_log(rf"worker {old} exited", timeout=15)
        status, _, body = kit.get(port)
        assert status == 200 and int(body) != old
        assert len(srv.children()) == 1
        assert srv.count(r"started worker") == 2  # the first worker and exactly one replacement
    finally:
        hang.close()
        pinned.close()


def test_max_requests_recycles_without_failures(start_server, pid_app, kit):
    srv = start_server("--workers", "1", "--max-requests", "150", "--max-requests-jitter", "20").ready(workers=1)
    port = srv.port
    (first,) = srv.children()
    with kit.LoadClient(port, threads=3, max_seconds=90) as client:
        kit.wait_for(lambda: srv.count(r"retiring worker \d+ \(max-requests\)") >= 2, timeout=60,
                     what="two max-requests recycles")
        kit.wait_for(lambda: first not in srv.children(), what="the first worker to exit")
        client.wait_successes(50)
    assert client.errors == []
    pids = {int(body.split()[1]) for _, body in client.bodies}
    assert len(pids) >= 2 and first in pids


def test_ttin_ttou_change_the_worker_count(start_server, pid_app, kit):
    srv = start_server("--workers", "2").ready(workers=2)
    srv.signal(signal.SIGTTIN)
    srv.wait_log(r"SIGTTIN: now 3 worker\(s\)")
    kit.wait_for(lambda: len(srv.children()) == 3, what="3 workers")
    srv.signal(signal.SIGTTOU)
    srv.wait_log(r"SIGTTOU: now 2 worker\(s\)")
    kit.wait_for(lambda: len(srv.children()) == 2, what="2 workers")
    assert kit.get(srv.port)[0] == 200


def test_import_error_at_startup_exits_with_one_line(start_server, write_app):
    write_app("raise RuntimeError('boom at import')\n", name="broken")
    srv = start_server("--workers", "2", app_spec="broken:app")
    assert srv.wait_exit() == 2
    last = srv.stderr().strip().splitlines()[-1]
    assert last == "hatchway: error: importing 'broken:app' failed: RuntimeError: boom at import"
    assert srv.children() == set()


def test_missing_module_at_startup(start_server):
    srv = start_server("--workers", "2", app_spec="no_such_module:app")
    assert srv.wait_exit() == 2
    assert srv.stderr().strip().splitlines()[-1] == \
        "hatchway: error: cannot import 'no_such_module': no module named 'no_such_module'"


def test_usr1_reopens_log_files(start_server, pid_app, kit, workdir):
    srv = start_server("--workers", "1").ready(workers=1)
    port = srv.port
    rotated = workdir / "rotated.log"
    os.rename(srv.log_path, rotated)
    srv.signal(signal.SIGUSR1)
    kit.wait_for(lambda: srv.log_path.exists() and "reopening log files" in rotated.read_text(),
                 what="a fresh error log")
    srv.signal(signal.SIGTTIN)
    srv.wait_log(r"SIGTTIN: now 2 worker\(s\)")
    srv.wait_log(r"worker \d+ ready")  # a worker writes to the new file too
    assert kit.get(port)[0] == 200


def test_pid_file_and_clean_exit(start_server, pid_app, workdir, kit):
    pidfile = workdir / "hatchway.pid"
    srv = start_server("--workers", "1", "--pid", str(pidfile)).ready(workers=1)
    assert pidfile.read_text().strip() == str(srv.pid)
    srv.signal(signal.SIGTERM)
    assert srv.wait_exit() == 0
    assert not pidfile.exists()


def test_sigint_stops_fast(start_server, pid_app, kit):
    srv = start_server("--workers", "2", "--threads", "2", "--graceful-timeout", "60").ready(workers=2)
    port = srv.port
    import socket
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /slow?30 HTTP/1.1\r\nHost: x\r\n\r\n")
    start = time.monotonic()
    srv.signal(signal.SIGINT)
    assert srv.wait_exit(timeout=20) == 0
    assert time.monotonic() - start < 15
    s.close()
