"""The accept-loop core shared by the WSGI worker and the stream servers, on a real listening socket."""
from __future__ import annotations

import errno
import logging
import select
import socket

import pytest

from hatchway.server.acceptor import (ACCEPT_BATCH, DRAINED, FULL, MORE, STARVED, Acceptor, accept_batch)
from support import wait_for


def _listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(256)
    srv.setblocking(False)
    return srv


def _waiting(srv, n):
    clients = [socket.create_connection(srv.getsockname()) for _ in range(n)]
    poller = select.poll()
    poller.register(srv, select.POLLIN)
    wait_for(lambda: poller.poll(0), timeout=10, what="a queued connection")
    return clients


def test_a_batch_takes_what_waits_and_stops_at_the_batch_size():
    srv = _listener()
    clients = _waiting(srv, ACCEPT_BATCH + 6)
    got = []
    try:
        assert accept_batch(srv.accept, lambda s, a: got.append(s), lambda: True) == MORE
        assert len(got) == ACCEPT_BATCH  # one busy listener cannot hold the loop
        wait_for(lambda: accept_batch(srv.accept, lambda s, a: got.append(s), lambda: True) == DRAINED
                 and len(got) == ACCEPT_BATCH + 6, timeout=10, what="the rest")
    finally:
        for s in got + clients + [srv]:
            s.close()


def test_no_room_leaves_connections_in_the_backlog():
    srv = _listener()
    clients = _waiting(srv, 3)
    got = []
    try:
        assert accept_batch(srv.accept, lambda s, a: got.append(s), lambda: len(got) < 2) == FULL
        assert len(got) == 2
    finally:
        for s in got + clients + [srv]:
            s.close()


def test_out_of_descriptors_stops_the_batch_with_one_line(caplog):
    def accept():
        raise OSError(errno.EMFILE, "Too many open files")

    with caplog.at_level(logging.ERROR, logger="hatchway.error"):
        assert accept_batch(accept, lambda s, a: None, lambda: True) == STARVED
    assert [r.getMessage() for r in caplog.records] == [
        "accept failed: Too many open files; pausing accept until resources free up"]


def test_pause_and_resume_take_the_listener_out_of_epoll_and_back():
    srv = _listener()
    ep = select.epoll()
    clients = _waiting(srv, 1)
    try:
        acceptor = Acceptor(ep, [srv.fileno()], exclusive=True)
        assert acceptor.paused and ep.poll(0) == []
        acceptor.resume()
        assert [fd for fd, _ in ep.poll(1)] == [srv.fileno()]
        acceptor.pause()
        assert ep.poll(0) == []
        acceptor.resume()
        acceptor.resume()  # idempotent
        assert [fd for fd, _ in ep.poll(1)] == [srv.fileno()]
    finally:
        ep.close()
        for s in clients + [srv]:
            s.close()


def test_the_listeners_accept_makes_the_same_socket_as_the_standard_librarys():
    from hatchway.server.listeners import open_listeners

    (listener,) = open_listeners(["127.0.0.1:0"])
    try:
        with socket.create_connection(listener.address[:2]) as client:
            wait_for(lambda: select.select([listener.sock], [], [], 0)[0], timeout=5)
            sock, addr = listener.accept()
            with sock:
                assert type(sock) is socket.socket
                assert (sock.family, sock.type, sock.proto) == (socket.AF_INET, socket.SOCK_STREAM, 0)
                assert addr == client.getsockname()
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # inherited from the listener
                client.sendall(b"ping")
                sock.settimeout(5)
                assert sock.recv(4) == b"ping"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing queued: as accept() on a non-blocking listener
    finally:
        listener.close()
