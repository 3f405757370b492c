"""concurrency="processes": a prefork pool forked once, supervised, stopped and reaped."""
import os
import signal
import threading

import pytest

from hatchway.server import ForkingTCPServer, StreamRequestHandler, TCPServer
from support import DEADLINE, connect, serving, wait_for


class PidEcho(StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"%d %s" % (os.getpid(), line))


def ask(address, line=b"hi\n"):
    sock = connect(address)
    with sock, sock.makefile("rb") as reader:
        sock.sendall(line)
        answer = reader.readline()
    pid, _, echoed = answer.partition(b" ")
    assert echoed == line, answer
    return int(pid)


def assert_reaped(pids):
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # not our child any more: it was reaped
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_children_serve_and_are_reaped_on_shutdown():
    srv = TCPServer(("127.0.0.1", 0), PidEcho, concurrency="processes", processes=2)
    with serving(srv):
        pids = wait_for(lambda: len(srv.worker_pids) == 2 and list(srv.worker_pids), what="2 children")
        answered_by = {ask(srv.server_address) for _ in range(20)}
        assert answered_by <= set(pids)
        assert os.getpid() not in answered_by, "the parent supervises; it never accepts"
        # several connections at once are spread over the children
        socks = [connect(srv.server_address) for _ in range(2)]
        try:
            for s in socks:
                s.sendall(b"x\n")
            concurrent = {int(s.makefile("rb").readline().split()[0]) for s in socks}
        finally:
            for s in socks:
                s.close()
        assert concurrent == set(pids), "two open connections are held by two different children"
    assert srv.worker_pids == []
    assert_reaped(pids)


@pytest.mark.slow
def test_a_dead_child_is_replaced():
    srv = ForkingTCPServer(("127.0.0.1", 0), PidEcho, processes=2)
    with serving(srv, poll_interval=0.05):
        first = wait_for(lambda: len(srv.worker_pids) == 2 and list(srv.worker_pids), what="2 children")
        victim = first[0]
        os.kill(victim, signal.SIGKILL)  # our own child, by pid
        pids = wait_for(lambda: len(srv.worker_pids) == 2 and victim not in srv.worker_pids
                        and list(srv.worker_pids), what="a replacement child")
        assert {ask(srv.server_address) for _ in range(10)} <= set(pids)
    assert_reaped([victim, *pids])


def test_threads_inside_each_child():
    class Pair(StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"%d\n" % os.getpid())
            self.rfile.readline()  # hold the connection until the client lets go

    srv = TCPServer(("127.0.0.1", 0), Pair, concurrency="processes", processes=1, threads=3)
    with serving(srv):
        wait_for(lambda: srv.worker_pids, what="the child")
        socks = [connect(srv.server_address) for _ in range(3)]
        try:
            # three connections held open at once by one process: its threads serve them
            pids = {int(s.makefile("rb").readline()) for s in socks}
        finally:
            for s in socks:
                s.close()
    assert len(pids) == 1 and os.getpid() not in pids


def test_shutdown_waits_for_a_child_to_finish_its_connection():
    class Slow(StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"started\n")
            self.wfile.write(b"finished " + self.rfile.readline())

    srv = TCPServer(("127.0.0.1", 0), Slow, concurrency="processes", processes=1)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
    thread.start()
    try:
        wait_for(lambda: srv.worker_pids, what="the child")
        pids = list(srv.worker_pids)
        sock = connect(srv.server_address)
        reader = sock.makefile("rb")
        assert reader.readline() == b"started\n"
        stopper = threading.Thread(target=srv.shutdown)
        stopper.start()
        sock.sendall(b"late\n")  # the request in flight still completes
        assert reader.readline() == b"finished late\n"
        reader.close()
        sock.close()
        stopper.join(DEADLINE)
        assert not stopper.is_alive()
    finally:
        srv.shutdown()
        thread.join(DEADLINE)
        srv.server_close()
    assert_reaped(pids)


def test_a_stuck_child_is_killed_after_graceful_timeout_and_reaped():
    class Stuck(StreamRequestHandler):
        read_timeout = None

        def handle(self):
            self.wfile.write(b"in\n")
            self.rfile.readline()  # the client never sends

    srv = TCPServer(("127.0.0.1", 0), Stuck, concurrency="processes", processes=1, graceful_timeout=0.3)
    with serving(srv, poll_interval=0.05):
        pids = wait_for(lambda: list(srv.worker_pids), what="the child")
        sock = connect(srv.server_address)
        with sock, sock.makefile("rb") as reader:
            assert reader.readline() == b"in\n"
            srv.shutdown()  # must not wait for the stuck handler beyond graceful_timeout
            assert reader.readline() == b"", "the killed child's connection is closed"
    assert_reaped(pids)
