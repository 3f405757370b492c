"""A connection on a TLS listener before its handshake is done.  It lives on the loop and holds
no thread; once TLS is up it hands the socket to the worker's connection factory.

Before any TLS, it peeks at the first bytes.  A TLS client speaks first with a handshake record
(0x16); a method token (`GET `, `POST `...) means a plaintext HTTP client dialled the TLS port.
That client gets what nginx sends it, a 400 saying "The plain HTTP request was sent to HTTPS
port", instead of a reset it cannot explain.  These are the only HTTP-shaped bytes under server/:
the HTTP layer cannot be asked, since no HTTP connection exists before TLS is up.
"""
from __future__ import annotations

import logging
import select
import socket
from typing import Any

from .addresses import format_peer

log = logging.getLogger("hatchway.error")

PLAIN_HTTP_BODY = b"The plain HTTP request was sent to HTTPS port\n"
_PEEK = 16
_A, _Z, _SP = 65, 90, 32

# The summary wording of each flood-prone event (see log_summary.py).
HANDSHAKE_FAILED = "TLS handshake failed"
PLAIN_HTTP = "plain HTTP request on a TLS port answered 400"


def looks_like_http(head: bytes) -> bool:
    """True if `head` starts like an HTTP request line: an upper-case method token followed by a
    space (or cut short before one).  A TLS record never starts with a letter."""
    i = 0
    n = len(head)
    while i < n and _A <= head[i] <= _Z:
        i += 1
    return i > 0 and (i == n or head[i] == _SP)


def plain_http_reply(server: str) -> bytes:
    head = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n" % len(PLAIN_HTTP_BODY))
    if server:
        head += b"Server: " + server.encode("latin-1") + b"\r\n"
    return head + b"\r\n" + PLAIN_HTTP_BODY


class TLSHandshake:
    __slots__ = ("worker", "sock", "fd", "addr", "listener", "deadline", "idle", "idle_since", "tls", "answered")

    def __init__(self, worker: Any, sock: socket.socket, addr: Any, listener: Any) -> None:
        self.worker = worker
        self.sock: Any = sock  # the plain socket, then the SSLSocket around the same fd
        self.fd = sock.fileno()
        self.addr = addr
        self.listener = listener
        self.deadline = worker.now + worker.config.header_timeout
        self.idle = True
        self.idle_since = worker.now
        self.tls = False        # wrapped: the first bytes were not plaintext HTTP
        self.answered = False   # plaintext HTTP: the 400 is sent, input is discarded until EOF

    def on_readable(self) -> None:
        if self.tls:
            self._step()
        elif self.answered:
            self._discard()
        else:
            self._sniff()

    def on_writable(self) -> None:  # a method, not an alias: a compiled (mypyc) class drops function-valued attributes
        self._step()

    def _sniff(self) -> None:
        try:
            head = self.sock.recv(_PEEK, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return  # nothing yet: the loop watches for input
        except OSError:
            self.close()
            return
        if not head:
            self.close()
            return
        if looks_like_http(head):
            self._answer_plain()
            return
        try:
            self.sock = self.listener.ssl_context.wrap_socket(self.sock, server_side=True,
                                                              do_handshake_on_connect=False)
        except OSError as exc:
            self._failed(exc)
            return
        self.tls = True
        self._step()

    def _step(self) -> None:
        import ssl  # loaded already: the listener's context made this socket

        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.worker.watch(self, select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self.worker.watch(self, select.EPOLLOUT)
            return
        except (ssl.SSLError, OSError) as exc:
            self._failed(exc)
            return
        conn = self.worker.connection_factory(self.worker, self.sock, self.addr, self.listener)
        self.worker.replace(self, conn)
        conn.on_readable()  # decrypted bytes may already be waiting inside the TLS layer

    def _failed(self, exc: BaseException) -> None:
        self.worker.log_summary.note(self.worker.now, logging.DEBUG, HANDSHAKE_FAILED,
                                     "TLS handshake with %s failed: %s", format_peer(self.addr), exc)
        self.close()

    def _answer_plain(self) -> None:
        """Send the 400, stop sending, and read what the client sends until it closes (or the
        linger timeout), so that closing with its request unread does not reset the 400 away."""
        worker = self.worker
        worker.log_summary.note(worker.now, logging.INFO, PLAIN_HTTP,
                                "plain HTTP request to TLS port from %s: answered 400", format_peer(self.addr))
        self.answered = True
        self._discard()
        if self.sock.fileno() < 0:
            return
        try:
            self.sock.send(plain_http_reply(worker.config.server_header))  # a few hundred bytes: fits the socket buffer
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.deadline = worker.now + worker.config.linger_timeout

    def _discard(self) -> None:
        try:
            for _ in range(16):  # bounded per wake-up; the linger deadline bounds the whole
                data = self.sock.recv(65536)
                if not data:
                    self.close()
                    return
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()

    def on_timeout(self) -> None:
        self.close()

    def stop_gracefully(self) -> None:
        self.close()

    def close(self) -> None:
        self.worker.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass
