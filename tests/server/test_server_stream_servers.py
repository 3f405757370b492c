"""hatchway.server stream servers: the socketserver contract, over real sockets."""
import errno
import os
import socket
import threading

import pytest

from hatchway.server import (BaseRequestHandler, ServerBindError, StreamRequestHandler, TCPServer,
                             ThreadingTCPServer, UnixStreamServer)
from support import DEADLINE, connect, serving, wait_for


class Echo(StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(b"echo: " + line)


def exchange_lines(address, lines):
    sock = connect(address)
    with sock, sock.makefile("rb") as reader:
        out = []
        for line in lines:
            sock.sendall(line)
            out.append(reader.readline())
        return out


@pytest.mark.parametrize("concurrency", ["sync", "threads"])
def test_echo_lines_over_one_connection(concurrency):
    srv = TCPServer(("127.0.0.1", 0), Echo, concurrency=concurrency)
    assert srv.server_address[1] != 0, "server_address must carry the real port"
    with serving(srv):
        assert exchange_lines(srv.server_address, [b"a\n", b"bb\n", b"ccc\n"]) == [
            b"echo: a\n", b"echo: bb\n", b"echo: ccc\n"]
        # and a second client after the first one left
        assert exchange_lines(srv.server_address, [b"again\n"]) == [b"echo: again\n"]


def test_base_request_handler_gets_socket_address_and_server():
    seen = {}

    class Raw(BaseRequestHandler):
        def setup(self):
            seen["setup"] = True

        def handle(self):
            seen["request"] = self.request
            seen["client_address"] = self.client_address
            seen["server"] = self.server
            self.request.sendall(self.request.recv(100).upper())

        def finish(self):
            seen["finish"] = True

    srv = TCPServer(("127.0.0.1", 0), Raw)
    with serving(srv):
        sock = connect(srv.server_address)
        with sock:
            sock.sendall(b"hello")
            assert sock.recv(100) == b"HELLO"
            client_port = sock.getsockname()[1]
        wait_for(lambda: seen.get("finish"), what="finish()")
    assert seen["setup"]
    assert isinstance(seen["request"], socket.socket)
    assert seen["client_address"] == ("127.0.0.1", client_port)
    assert seen["server"] is srv


def test_wfile_writes_go_out_before_the_handler_returns():
    release = threading.Event()

    class Stepwise(StreamRequestHandler):
        def handle(self):
            self.wfile.write(b"first\n")
            # The client answers only after it has read "first": a buffered wfile would deadlock.
            assert release.wait(DEADLINE)
            self.wfile.write(b"second\n")

    srv = TCPServer(("127.0.0.1", 0), Stepwise, concurrency="threads", threads=2)
    with serving(srv):
        sock = connect(srv.server_address)
        with sock, sock.makefile("rb") as reader:
            assert reader.readline() == b"first\n"
            release.set()
            assert reader.readline() == b"second\n"
            assert reader.readline() == b""  # the server closes after the handler


def test_rfile_is_buffered_and_iterable_by_line():
    got = []

    class Lines(StreamRequestHandler):
        def handle(self):
            got.append(self.rfile.read(3))
            for line in self.rfile:
                got.append(line)

    srv = TCPServer(("127.0.0.1", 0), Lines)
    with serving(srv):
        sock = connect(srv.server_address)
        sock.sendall(b"abcone\ntwo\nthree-without-newline")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b""
        sock.close()
    assert got == [b"abc", b"one\n", b"two\n", b"three-without-newline"]


def test_ipv6_any_address():
    srv = TCPServer(("::", 0), Echo)
    assert srv.address_family == socket.AF_INET6
    assert srv.server_address[0] == "::" and srv.server_address[1] > 0
    with serving(srv):
        assert exchange_lines(("::1", srv.server_address[1]), [b"six\n"]) == [b"echo: six\n"]


def test_unix_stream_server(tmp_path):
    path = str(tmp_path / "echo.sock")
    # a stale socket file from a dead server is replaced, not an error
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    srv = UnixStreamServer(path, Echo, concurrency="threads", threads=2)
    assert srv.server_address == path
    with serving(srv):
        assert exchange_lines(path, [b"unix\n"]) == [b"echo: unix\n"]
    assert not os.path.exists(path), "the socket file is removed on server_close()"


def test_context_manager_closes_the_listener():
    with TCPServer(("127.0.0.1", 0), Echo) as srv:
        port = srv.server_address[1]
        with serving(srv):
            assert exchange_lines(srv.server_address, [b"x\n"]) == [b"echo: x\n"]
    with pytest.raises(ConnectionRefusedError):
        connect(("127.0.0.1", port))
    # the port is free again
    with TCPServer(("127.0.0.1", port), Echo) as again:
        assert again.server_address[1] == port


def test_bind_failure_is_an_oserror_with_errno():
    with TCPServer(("127.0.0.1", 0), Echo) as srv:
        with pytest.raises(OSError) as info:
            TCPServer(("127.0.0.1", srv.server_address[1]), Echo)
    assert isinstance(info.value, ServerBindError)
    assert info.value.errno == errno.EADDRINUSE


def test_bind_and_activate_false_defers_binding():
    srv = TCPServer(("127.0.0.1", 0), Echo, bind_and_activate=False)
    assert srv.socket is None
    srv.server_bind()
    srv.server_activate()
    with serving(srv):
        assert exchange_lines(srv.server_address, [b"late\n"]) == [b"echo: late\n"]


def test_verify_request_can_refuse_a_connection():
    handled = []

    class Picky(TCPServer):
        refuse_next = True

        def verify_request(self, request, client_address):
            refuse, self.refuse_next = self.refuse_next, False
            return not refuse

    class Record(Echo):
        def handle(self):
            handled.append(self.client_address)
            super().handle()

    srv = Picky(("127.0.0.1", 0), Record, concurrency="threads", threads=2)
    with serving(srv):
        refused = connect(srv.server_address)
        with refused:
            assert refused.recv(10) == b"", "a refused connection is closed without a word"
        assert exchange_lines(srv.server_address, [b"ok\n"]) == [b"echo: ok\n"]
    assert len(handled) == 1


@pytest.mark.parametrize("concurrency", ["sync", "threads"])
def test_handle_error_hook_and_the_server_survives(concurrency):
    errors = []

    class Failing(StreamRequestHandler):
        def handle(self):
            if self.rfile.readline() == b"boom\n":
                raise ValueError("handler failure")
            self.wfile.write(b"fine\n")

    class Recording(TCPServer):
        def handle_error(self, request, client_address):
            import sys

            errors.append((sys.exc_info()[0], client_address))

    srv = Recording(("127.0.0.1", 0), Failing, concurrency=concurrency)
    with serving(srv):
        sock = connect(srv.server_address)
        with sock:
            sock.sendall(b"boom\n")
            assert sock.recv(10) == b""
        wait_for(lambda: errors, what="handle_error")
        assert exchange_lines(srv.server_address, [b"hi\n"]) == [b"fine\n"]
    assert errors[0][0] is ValueError


def test_read_timeout_closes_a_silent_client():
    outcome = []

    class Patient(StreamRequestHandler):
        read_timeout = 0.3

        def handle(self):
            try:
                self.rfile.readline()
            except TimeoutError:
                outcome.append("timeout")
                raise

    srv = TCPServer(("127.0.0.1", 0), Patient, concurrency="threads", threads=1)
    with serving(srv):
        sock = connect(srv.server_address)
        with sock:
            assert sock.recv(10) == b"", "the server must hang up on a client that sends nothing"
    assert outcome == ["timeout"]


def test_write_timeout_cuts_a_client_that_does_not_read():
    outcome = []

    class Flood(StreamRequestHandler):
        write_timeout = 0.3

        def handle(self):
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(1024):  # far more than any socket buffer holds
                    self.wfile.write(chunk)
            except TimeoutError:
                outcome.append("timeout")
                raise
            outcome.append("wrote everything")

    srv = TCPServer(("127.0.0.1", 0), Flood, concurrency="threads", threads=1)
    with serving(srv):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(srv.server_address)
        with sock:
            wait_for(lambda: outcome, what="the writer to give up")
    assert outcome == ["timeout"]


def test_socketserver_timeout_attribute_sets_both_timeouts():
    seen = []

    class Compat(StreamRequestHandler):
        timeout = 0.25
        read_timeout = 99.0

        def handle(self):
            seen.append(self.request.gettimeout())

    srv = TCPServer(("127.0.0.1", 0), Compat)
    with serving(srv):
        connect(srv.server_address).close()
        wait_for(lambda: seen, what="the handler")
    assert seen == [0.25]


def test_handle_request_serves_one_connection_or_times_out():
    timeouts = []

    class OneShot(TCPServer):
        timeout = 0.2

        def handle_timeout(self):
            timeouts.append(True)

    with OneShot(("127.0.0.1", 0), Echo) as srv:
        srv.handle_request()
        assert timeouts == [True]
        result = []
        client = threading.Thread(target=lambda: result.append(exchange_lines(srv.server_address, [b"one\n"])))
        client.start()
        srv.timeout = DEADLINE
        srv.handle_request()
        client.join(DEADLINE)
        assert result == [[b"echo: one\n"]]


def test_shutdown_before_serve_forever_starts_is_not_lost():
    srv = TCPServer(("127.0.0.1", 0), Echo)
    srv.shutdown()
    thread = threading.Thread(target=srv.serve_forever)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    srv.server_close()


def test_argument_checks():
    with pytest.raises(ValueError):
        TCPServer(("127.0.0.1", 0), Echo, concurrency="sync", threads=4)
    with pytest.raises(ValueError):
        TCPServer(("127.0.0.1", 0), Echo, concurrency="fibers")
    with pytest.raises(ValueError):
        TCPServer(("127.0.0.1", 0), Echo, concurrency="threads", threads=0)
    with TCPServer(("127.0.0.1", 0), Echo, threads=3) as srv:
        assert srv.concurrency == "threads" and srv.threads == 3 and srv.queue_size == 12
    with ThreadingTCPServer(("127.0.0.1", 0), Echo) as srv:
        assert srv.concurrency == "threads" and srv.threads == 8


def test_server_close_while_serving_in_another_thread_stops_it_first():
    srv = TCPServer(("127.0.0.1", 0), Echo, concurrency="threads", threads=2)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,))
    thread.start()
    assert exchange_lines(srv.server_address, [b"x\n"]) == [b"echo: x\n"]
    srv.server_close()
    thread.join(DEADLINE)
    assert not thread.is_alive()
