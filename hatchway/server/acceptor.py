"""The accept-loop core: the one way hatchway takes connections off a listening socket.

Both event loops use it: the WSGI worker (worker.py), which holds every connection on its loop,
and the socketserver-style stream servers (stream.py), which hand each connection to a handler.
What they share, and keep here so it cannot drift apart:

* `accept_batch`: accept up to `ACCEPT_BATCH` connections per readiness event (a burst of
  connects costs one epoll wake-up, yet one busy listener cannot starve the loop's other fds),
  while the caller has room for them, and report why it stopped.
* Resource exhaustion (EMFILE, ENFILE, ENOBUFS, ENOMEM) never raises out of the loop: the batch
  stops with `STARVED`, one error line is logged, and the caller stops watching the listener
  until something frees up.  Watching it meanwhile would spin: the connection stays queued and
  the listener stays readable.
* `Acceptor`: the listeners' registration in the loop's epoll, with pause and resume.  With
  `exclusive`, listeners are registered with EPOLLEXCLUSIVE where the kernel has it, so processes
  that share a socket are not all woken for one connection.  The stream servers' prefork children
  use it (each serves one connection at a time).  The WSGI worker does not: the kernel wakes the
  same idle waiter first, so exclusive wake-ups would pile every connection on one supervised
  worker, while the race of plain wake-ups spreads them (a busy worker loses it).
"""
from __future__ import annotations

import errno
import logging
import select
import socket
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("hatchway.error")

ACCEPT_BATCH = 64
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
STARVED_RETRY = 0.1  # seconds a loop that has no other wake-up waits before accepting again

# Why accept_batch stopped:
DRAINED = 0  # no connection waiting
FULL = 1     # the caller has no room (room() said so)
STARVED = 2  # out of file descriptors or memory: pause accepting
MORE = 3     # a whole batch taken; more may be waiting

Accept = Callable[[], "tuple[socket.socket, Any]"]


def plain_accept(listening: socket.socket) -> Accept:
    """`listening.accept`, without the standard library's per-call overhead: its accept() turns the
    listener's family and type into enums (two Python-level conversions) and asks for the default
    timeout on every connection.  Here they are read once; the socket made is the same."""
    raw_accept = listening._accept  # type: ignore[attr-defined]
    family, kind, proto = int(listening.family), int(listening.type), listening.proto
    make = socket.socket

    def accept() -> tuple[socket.socket, Any]:
        fd, addr = raw_accept()
        return make(family, kind, proto, fileno=fd), addr

    return accept


def accept_batch(accept: Accept, admit: Callable[[socket.socket, Any], object],
                 room: Callable[[], bool]) -> int:
    """Accept connections with `accept()` and give each to `admit(sock, address)` while `room()`
    holds, at most ACCEPT_BATCH of them; return DRAINED, FULL, STARVED or MORE."""
    for _ in range(ACCEPT_BATCH):
        if not room():
            return FULL
        try:
            sock, addr = accept()
        except (BlockingIOError, InterruptedError):
            return DRAINED
        except ConnectionAbortedError:
            continue  # reset by the peer while queued: nothing to serve
        except OSError as exc:
            if exc.errno in RESOURCE_ERRORS:
                log.error("accept failed: %s; pausing accept until resources free up", exc.strerror)
                return STARVED
            raise
        admit(sock, addr)
    return MORE


class Acceptor:
    """The listening sockets of one loop in that loop's epoll: registered, paused, resumed.

    `fds` is re-read on every pause and resume, so the owner may pass a live collection (the
    worker passes its listener dict, which a drain empties in place)."""

    __slots__ = ("epoll", "fds", "exclusive", "paused")

    def __init__(self, epoll: Any, fds: Iterable[int], exclusive: bool = False) -> None:
        self.epoll = epoll
        self.fds = fds
        self.exclusive = exclusive
        self.paused = True  # until resume(): the owner may not have its epoll yet

    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            for fd in self.fds:
                try:
                    self.epoll.unregister(fd)
                except (FileNotFoundError, OSError):
                    pass

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            for fd in self.fds:
                register_listener(self.epoll, fd, self.exclusive)


def register_listener(epoll: Any, fd: int, exclusive: bool = False) -> None:
    if exclusive:
        try:
            epoll.register(fd, select.EPOLLIN | select.EPOLLEXCLUSIVE)
            return
        except FileExistsError:
            return
        except OSError:
            pass  # an older kernel: plain wake-ups
    try:
        epoll.register(fd, select.EPOLLIN)
    except OSError:
        pass  # registered already, or closed under a drain
