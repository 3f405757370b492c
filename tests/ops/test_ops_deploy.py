"""Deployment integration: socket activation, --fd, sd_notify, privilege drop, reuse-port, shedding."""
import os
import signal
import socket
import threading

import pytest


def _listening_socket():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


@pytest.mark.parametrize("workers", ["0", "2"])
def test_systemd_socket_activation_and_notify(start_server, pid_app, kit, workdir, workers):
    sock = _listening_socket()
    port = sock.getsockname()[1]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_path = str(workdir / "notify.sock")
    notify.bind(notify_path)
    notify.settimeout(30)
    fd = sock.fileno()
    try:
        # systemd passes fds from 3 on, and LISTEN_PID must name the server itself: a shell moves
        # the socket to fd 3, sets LISTEN_PID to its own pid, then execs the server.
        script = f'exec 3<&{fd} {fd}<&-; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"'
        srv = start_server("--workers", workers, bind=False, pass_fds=(fd,), argv_prefix=("bash", "-c", script),
                           env={"NOTIFY_SOCKET": notify_path})
        try:
            assert notify.recv(4096).startswith(b"READY=1")
        except TimeoutError:
            raise AssertionError(srv.log() + srv.stderr()) from None
        sock.close()  # the server's copy is the only one now
        assert kit.get(port)[0] == 200
        srv.signal(signal.SIGTERM)
        assert notify.recv(4096) == b"STOPPING=1"
        assert srv.wait_exit() == 0
    finally:
        notify.close()
        sock.close()


def test_inherited_fd(start_server, pid_app, kit):
    sock = _listening_socket()
    port = sock.getsockname()[1]
    try:
        srv = start_server("--workers", "1", "--fd", str(sock.fileno()), bind=False, pass_fds=(sock.fileno(),))
        srv.ready(workers=1)
        assert kit.get(port)[0] == 200
    finally:
        sock.close()


def test_user_and_group_drop_after_bind(start_server, write_app, kit):
    write_app("""
        import os

        def app(environ, start_response):
            body = f"{os.getuid()} {os.getgid()}".encode()
            start_response("200 OK", [("Content-Length", str(len(body)))])
            return [body]
    """)
    import grp
    import pwd
    if os.geteuid() != 0:  # only root may switch: anyone else gets a clear one-line refusal
        srv = start_server("--user", "nobody")
        assert srv.wait_exit() == 2 and "cannot switch to uid=" in srv.stderr()
        return
    srv = start_server("--workers", "1", "--user", "nobody", "--group", "nogroup").ready(workers=1)
    assert kit.get(srv.port)[2] == f"{pwd.getpwnam('nobody').pw_uid} {grp.getgrnam('nogroup').gr_gid}".encode()
    alone = start_server("--user", "nobody").ready()
    assert kit.get(alone.port)[2].split()[0] == str(pwd.getpwnam("nobody").pw_uid).encode()


def test_reuse_port_gives_each_worker_its_own_socket(start_server, pid_app, kit):
    srv = start_server("--workers", "2", "--reuse-port").ready(workers=2)
    port = int(srv.wait_log(r"listening on http://127\.0\.0\.1:(\d+) with a SO_REUSEPORT socket").group(1))
    workers = srv.children()
    seen = set()
    kit.wait_for(lambda: seen.add(int(kit.get(port)[2].split()[1])) or seen == workers,
                 what="both workers to answer on their own sockets")
    # A reload under load with per-worker sockets.
    with kit.LoadClient(port, threads=4, max_seconds=60) as client:
        client.wait_successes(100)
        pid_app("v2")
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload complete")
        kit.wait_for(lambda: not (srv.children() & workers), what="old workers to exit")
        client.wait_successes(100)
    from hatchway.server.supervisor import migrates_requests
    if migrates_requests():
        assert client.errors == [], client.errors[:5]
    else:
        # The documented --reuse-port window: only a new connection that reached a retiring worker's
        # socket between its last accept and its close can fail, and only by being cut off.
        srv.wait_log(r"net\.ipv4\.tcp_migrate_req is 0")
        for error, last in zip(client.errors, client.failed_after):
            assert last is None and error.startswith(("ConnectionResetError", "RemoteDisconnected")), client.errors
    assert kit.get(port)[2].startswith(b"v2")


def test_load_shedding_by_queue_wait(start_server, pid_app, kit):
    srv = start_server("--threads", "1", "--max-queue-wait", "0.2", "--timeout", "0.5").ready()
    port = srv.port
    results = []
    slow = threading.Thread(target=lambda: results.append(("slow", kit.get(port, "/slow?1.5"))))
    slow.start()
    # Once the slow one is in the app it holds the only thread; the rest queue behind it.
    srv.wait_log(r"GET /slow\?1\.5 from 127\.0\.0\.1 has been running for")
    waiting = [threading.Thread(target=lambda: results.append(("fast", kit.get(port, "/")))) for _ in range(3)]
    for t in waiting:
        t.start()
    for t in [slow, *waiting]:
        t.join(60)
    fast = [r for kind, r in results if kind == "fast"]
    assert [r[0] for kind, r in results if kind == "slow"] == [200]
    assert fast and all(status == 503 for status, _, _ in fast), [r[0] for r in fast]
    for _status, headers, _ in fast:
        assert headers["Retry-After"] == "1" and headers["Connection"] == "close"
    srv.wait_log(r"shedding load: a request waited")
    assert kit.get(port)[0] == 200  # no queue, no shedding
