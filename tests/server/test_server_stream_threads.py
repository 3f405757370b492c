"""concurrency="threads": a bounded pool fed from a bounded queue; the kernel backlog beyond it."""
import selectors
import socket
import threading
import time

from hatchway.server import StreamRequestHandler, TCPServer
from support import DEADLINE, connect, serving, wait_for


class Echo(StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline()
        self.wfile.write(b"echo " + line)


def run_clients_all_at_once(address, n):
    """Connect n clients at once (non-blocking), then each sends a line, reads its answer and
    closes.  Returns {client index: answer}.  One thread drives them all with a selector."""
    sel = selectors.DefaultSelector()
    answers = {}
    state = {}
    for i in range(n):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(address)
        state[i] = [sock, b"", False]
        sel.register(sock, selectors.EVENT_WRITE, i)
    deadline = time.monotonic() + 45
    try:
        while len(answers) < n:
            assert time.monotonic() < deadline, f"only {len(answers)} of {n} clients answered"
            for key, events in sel.select(timeout=1.0):
                i = key.data
                sock, buf, sent = state[i]
                if events & selectors.EVENT_WRITE and not sent:
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"client {i} failed to connect: {err}"
                    sock.send(b"client %d\n" % i)
                    state[i][2] = True
                    sel.modify(sock, selectors.EVENT_READ, i)
                    continue
                data = sock.recv(4096)
                assert data, f"client {i}: connection closed before an answer"
                buf += data
                state[i][1] = buf
                if buf.endswith(b"\n"):
                    answers[i] = buf
                    sel.unregister(sock)
                    sock.close()
    finally:
        for sock, _, _ in state.values():
            sock.close()
        sel.close()
    return answers


def test_300_clients_connecting_at_once_are_all_answered_by_8_threads():
    seen_threads = set()
    lock = threading.Lock()

    class Recording(Echo):
        def handle(self):
            with lock:
                seen_threads.add(threading.get_ident())
            super().handle()

    srv = TCPServer(("127.0.0.1", 0), Recording, concurrency="threads", threads=8)
    before = threading.active_count()
    with serving(srv):
        answers = run_clients_all_at_once(srv.server_address, 300)
        # the pool is the only source of handler threads: no thread per connection
        assert threading.active_count() <= before + 1 + 8
    assert answers == {i: b"echo client %d\n" % i for i in range(300)}
    assert len(seen_threads) <= 8


def test_the_queue_is_bounded_and_the_backlog_holds_the_rest():
    gate = threading.Event()
    running = []
    lock = threading.Lock()
    passes = [0]

    class Gated(StreamRequestHandler):
        def handle(self):
            with lock:
                running.append(self.client_address)
            assert gate.wait(DEADLINE)
            self.wfile.write(b"done " + self.rfile.readline())

    class Counting(TCPServer):
        def service_actions(self):
            passes[0] += 1

    srv = Counting(("127.0.0.1", 0), Gated, concurrency="threads", threads=2, queue_size=3)
    clients = []
    try:
        with serving(srv, poll_interval=0.02):
            for i in range(10):
                sock = connect(srv.server_address)
                sock.sendall(b"%d\n" % i)
                clients.append(sock)
            wait_for(lambda: srv.busy == 2 and srv.waiting == 3, what="2 running and 3 queued")
            # Let the accept loop go round many more times: it must not take anything more.
            start = passes[0]
            wait_for(lambda: passes[0] >= start + 10, what="accept loop passes")
            assert (srv.busy, srv.waiting) == (2, 3)
            assert len(running) == 2
            gate.set()
            for i, sock in enumerate(clients):
                with sock.makefile("rb") as reader:
                    assert reader.readline() == b"done %d\n" % i
    finally:
        gate.set()
        for sock in clients:
            sock.close()
    assert len(running) == 10


def test_server_close_waits_for_queued_connections():
    gate = threading.Event()

    class Gated(Echo):
        def handle(self):
            assert gate.wait(DEADLINE)
            super().handle()

    srv = TCPServer(("127.0.0.1", 0), Gated, concurrency="threads", threads=1, queue_size=4)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
    thread.start()
    clients = []
    for i in range(3):
        sock = connect(srv.server_address)
        sock.sendall(b"q%d\n" % i)
        clients.append(sock)
    wait_for(lambda: srv.busy == 1 and srv.waiting == 2, what="1 running and 2 queued")
    srv.shutdown()
    thread.join(DEADLINE)
    closer = threading.Thread(target=srv.server_close)
    closer.start()
    gate.set()
    closer.join(DEADLINE)
    assert not closer.is_alive()
    for i, sock in enumerate(clients):
        with sock, sock.makefile("rb") as reader:
            assert reader.readline() == b"echo q%d\n" % i


def test_server_close_cuts_handlers_still_running_after_graceful_timeout():
    class Stuck(StreamRequestHandler):
        read_timeout = None  # would wait forever for the client

        def handle(self):
            self.rfile.readline()

    srv = TCPServer(("127.0.0.1", 0), Stuck, concurrency="threads", threads=1, graceful_timeout=0.3)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
    thread.start()
    sock = connect(srv.server_address)
    wait_for(lambda: srv.busy == 1, what="the handler to start")
    srv.shutdown()
    thread.join(DEADLINE)
    started = time.monotonic()
    srv.server_close()
    assert time.monotonic() - started < DEADLINE / 2
    with sock:
        assert sock.recv(10) == b"", "the connection is closed by server_close"
