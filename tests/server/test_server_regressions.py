"""Regressions for engine bugs found in review, each through a real socket."""
import socket
import threading

from hatchway.wsgi import make_server


def serve(app, **options):
    srv = make_server("127.0.0.1", 0, app, **options)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    return srv, t


def test_promised_length_with_empty_body_closes_the_connection():
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return []

    for threads in (0, 2):
        srv, t = serve(app, threads=threads)
        try:
            with socket.create_connection(srv.server_address, timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
                data = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            # one head, then the close: the second response must never pose as the first's body
            assert data.count(b"HTTP/1.1 200") == 1 and data.endswith(b"\r\n\r\n")
        finally:
            srv.shutdown()
            srv.server_close()


def test_shutdown_requested_before_serve_forever_runs_is_not_lost():
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    srv = make_server("127.0.0.1", 0, app)
    # What shutdown() from another thread does while the loop is still starting up.
    srv.worker.request_stop()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    t.join(5)
    assert not t.is_alive()
    srv.server_close()


# ---- findings of the engine review, each through a real socket, in both modes ------------------
import json  # noqa: E402
import pytest  # noqa: E402

from hatchway.http.body import Body  # noqa: E402
from support import wait_for  # noqa: E402

MODES = [0, 3]


@pytest.fixture
def served():
    servers = []

    def start(app, **options):
        srv, t = serve(app, **options)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def read_until_closed(sock, limit=1 << 27):
    """Everything until the server closes; a client-side timeout is a failure, not a close."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            break
        except TimeoutError:
            raise AssertionError(f"the server did not close the connection ({len(data)} bytes read)") from None
        if not chunk:
            break
        data += chunk
    return data


def env_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"host": environ.get("HTTP_HOST"), "path": environ["PATH_INFO"]}).encode()]


@pytest.mark.parametrize("threads", MODES)
@pytest.mark.parametrize("target", [b"http://", b"http:///x", b"http://u@h/x", b"http://a:b/", b"ftp://h/"])
def test_unusable_absolute_targets_get_400_and_the_server_lives(served, threads, target):
    srv = served(env_app, threads=threads)
    with socket.create_connection(srv.server_address, timeout=5) as c:
        c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_until_closed(c).startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(srv.server_address, timeout=5) as c:
        c.sendall(b"GET http://[::1]:8080/x?q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        body = read_until_closed(c).split(b"\r\n\r\n", 1)[1]
        assert json.loads(body) == {"host": "[::1]:8080", "path": "/x"}


@pytest.mark.parametrize("threads", MODES)
def test_client_reset_before_the_500_goes_out_costs_only_that_connection(served, threads):
    go = threading.Event()
    entered = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/fail":
            entered.set()
            go.wait(10)
            raise RuntimeError("boom")
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    srv = served(app, threads=threads)
    c = socket.create_connection(srv.server_address, timeout=5)
    c.sendall(b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\n")
    assert entered.wait(10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # reset
    go.set()
    with socket.create_connection(srv.server_address, timeout=5) as c2:
        c2.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_until_closed(c2).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.slow
@pytest.mark.parametrize("threads", MODES)
def test_two_pipelined_responses_that_fill_the_socket_both_arrive(served, threads):
    big = b"x" * (32 << 20)  # far beyond what loopback socket buffers hold: both responses must wait

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(big)))])
        return [big]

    srv = served(app, threads=threads, write_timeout=3)
    with socket.create_connection(srv.server_address, timeout=8) as c:
        c.sendall(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_until_closed(c)
    assert data.count(b"HTTP/1.1 200 OK") == 2 and len(data) > 2 * len(big)


@pytest.mark.parametrize("threads", MODES)
def test_write_then_one_item_list_is_one_response(served, threads):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first-")
        return [b"second"]

    srv = served(app, threads=threads)
    with socket.create_connection(srv.server_address, timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_until_closed(c)
    assert data.count(b"HTTP/1.1") == 1 and data.endswith(b"6\r\nfirst-\r\n6\r\nsecond\r\n0\r\n\r\n")


@pytest.mark.parametrize("threads", MODES)
def test_body_in_the_same_read_as_its_head_flows_with_max_pipelined_1(served, threads):
    def app(environ, start_response):
        n = len(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"got %d" % n]

    srv = served(app, threads=threads, max_pipelined=1, body_timeout=2)
    with socket.create_connection(srv.server_address, timeout=8) as c:
        c.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 20000\r\n\r\n" + b"y" * 20000)
        data = read_until_closed(c)
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"got 20000")


def test_readline_over_a_spilled_body_reads_each_byte_a_bounded_number_of_times():
    body = Body(spill_at=1000)
    lines = [b"%099d\n" % i for i in range(3000)]
    for line in lines:
        body.append(line)
    body.complete = True
    assert body.file is not None
    reads = []
    real = body.file

    class Counting:
        def __getattr__(self, name):
            return getattr(real, name)

        def read(self, n=-1):
            data = real.read(n)
            reads.append(len(data))
            return data

    body.file = Counting()
    out = []
    while body.buffered:
        end = body.peek_line(-1)
        out.append(body.take(end))
    assert out == lines
    # linear: each line costs one block scan and one read of the line, never a re-read of the rest
    assert sum(reads) < 100 * len(b"".join(lines))


def test_idle_connections_back_from_the_pool_make_room_for_a_waiting_client(served):
    release = threading.Event()
    busy = threading.Semaphore(0)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            busy.release()
            release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    srv = served(app, threads=2, max_connections=2, keepalive_timeout=120)
    held = []
    for _ in range(2):
        c = socket.create_connection(srv.server_address, timeout=10)
        c.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        held.append(c)
    assert busy.acquire(timeout=10) and busy.acquire(timeout=10)
    try:
        # Both slots busy: the fresh client waits in the backlog while accepting is paused...
        fresh = socket.create_connection(srv.server_address, timeout=10)
        fresh.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        wait_for(lambda: srv.worker.acceptor.paused, timeout=10, what="accept paused at the limit")
        release.set()
        for c in held:  # ...until the two answered connections go idle and one is evicted for it
            assert c.recv(65536).startswith(b"HTTP/1.1 200")
        assert read_until_closed(fresh).startswith(b"HTTP/1.1 200")  # not after keepalive_timeout
        fresh.close()
    finally:
        release.set()
        for c in held:
            c.close()


@pytest.mark.slow
def test_a_stalled_drain_is_cut_by_the_body_rate(served):
    # Bodies are buffered before the app runs, so only a 100-continue request reaches the app with
    # its body unread: it reads one byte and answers; the rest must keep the body's rate while drained.
    def app(environ, start_response):
        environ["wsgi.input"].read(1)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    srv = served(app, threads=2, body_timeout=1, body_min_rate=100, keepalive_timeout=120)
    with socket.create_connection(srv.server_address, timeout=15) as c:
        c.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
        assert c.recv(100).startswith(b"HTTP/1.1 100 Continue")
        c.sendall(b"x")  # and then nothing
        data = read_until_closed(c)
    assert data.startswith(b"HTTP/1.1 200 OK")  # answered, then closed well before the socket timeout


@pytest.mark.slow
def test_shutdown_while_a_keep_alive_response_is_being_written_does_not_wait_for_the_timeout():
    big = b"z" * (16 << 20)
    started = threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(big)))])
        started.set()
        return [big]

    srv, t = serve(app, threads=0, graceful_timeout=60)
    c = socket.create_connection(srv.server_address, timeout=10)
    c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert started.wait(10)
    stopper = threading.Thread(target=srv.shutdown)
    stopper.start()
    data = read_until_closed(c)  # the whole response, then the server closes
    c.close()
    stopper.join(15)
    assert not stopper.is_alive() and len(data) > len(big)
    srv.server_close()


@pytest.mark.parametrize("threads", MODES)
def test_file_wrapper_on_files_sendfile_cannot_size(served, threads, tmp_path):
    short = tmp_path / "short.bin"
    short.write_bytes(b"0123456789")

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        if environ["PATH_INFO"] == "/proc":
            return environ["wsgi.file_wrapper"](open("/proc/self/status", "rb"))
        f = open(short, "rb")
        f.seek(50)  # past the end
        return environ["wsgi.file_wrapper"](f)

    srv = served(app, threads=threads)
    with socket.create_connection(srv.server_address, timeout=5) as c:
        c.sendall(b"GET /proc HTTP/1.1\r\nHost: a\r\n\r\nGET /past HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        data = read_until_closed(c)
    first, second = data.split(b"HTTP/1.1 200 OK", 2)[1:]
    assert b"Transfer-Encoding: chunked" in first and b"Name:" in first and first.endswith(b"0\r\n\r\n")
    assert b"Content-Length: 0" in second


@pytest.mark.slow
def test_loop_survives_pool_threads_closing_connections_during_ticks(served):
    import sys

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    srv = served(app, threads=4)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # widen the window the old data race needed
    import resource

    # Both ends live in this process: two fds per idle connection, within the fd limit.
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    idle = [socket.create_connection(srv.server_address, timeout=5) for _ in range(min(2000, (soft - 200) // 2))]
    try:
        stop = threading.Event()

        def client():
            while not stop.is_set():
                with socket.create_connection(srv.server_address, timeout=5) as c:
                    c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    read_until_closed(c)

        workers = [threading.Thread(target=client) for _ in range(4)]
        for w in workers:
            w.start()
        ticks = {"n": 0}
        srv.worker.on_tick = lambda now: ticks.__setitem__("n", ticks["n"] + 1)
        wait_for(lambda: ticks["n"] >= 16, timeout=30, what="sixteen loop ticks under load")
        stop.set()
        for w in workers:
            w.join(10)
    finally:
        sys.setswitchinterval(old)
        for c in idle:
            c.close()
    with socket.create_connection(srv.server_address, timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_until_closed(c).startswith(b"HTTP/1.1 200")


def test_a_call_queued_before_the_loop_starts_still_runs():
    """A signal handled during start-up queues its work before the wake-up pipe exists."""
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    srv = make_server("127.0.0.1", 0, app)
    ran = threading.Event()
    srv.worker.call_soon(ran.set)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        assert ran.wait(10)
    finally:
        srv.shutdown()
        srv.server_close()
