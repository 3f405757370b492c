"""Stream servers in the socketserver shape, with bounded concurrency.

    with TCPServer(("127.0.0.1", 9000), EchoHandler, concurrency="threads", threads=8) as srv:
        srv.serve_forever()

One handler instance serves one accepted connection, as in socketserver.  What differs is how
connections are spread over workers:

* ``"sync"``: the serving thread runs each handler itself, one connection at a time.
* ``"threads"``: a fixed pool of `threads` threads.  Accepted connections wait in a queue of at most
  `queue_size` for a free thread.  When the queue is full the server stops accepting; further
  connections wait in the kernel's listen backlog (`request_queue_size`), which is backpressure,
  not refusal: a client's connect() completes and its bytes are buffered by the kernel, and it is
  served as soon as a thread frees up.  Only when the backlog too is full does the kernel drop new
  connection attempts (clients retry SYNs, then time out).  No thread is ever created per
  connection.
* ``"processes"``: a prefork pool of `processes` children, forked once when `serve_forever()`
  starts, each accepting from the shared listening socket (one connection at a time, or with its
  own bounded thread pool when `threads` is given).  No fork per connection.  `shutdown()` stops
  the children and reaps them before it returns.

A full description of every difference from socketserver is in docs/migration.md.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .acceptor import STARVED, STARVED_RETRY, Acceptor, accept_batch
from .addresses import format_peer
from .listeners import BindError, Listener, bind_tcp, bind_unix
from .pool import ThreadPool
from .prefork import Prefork, release_inherited_sockets

log = logging.getLogger("hatchway.error")

CONCURRENCY = ("sync", "threads", "processes")
DEFAULT_THREADS = 8
_INF = float("inf")


class ServerBindError(BindError, OSError):
    """Binding failed.  An OSError as in socketserver, with a one-line message and the errno."""


def _bind_error(exc: BindError) -> ServerBindError:
    message = str(exc)
    for code in errno.errorcode:
        if message.endswith(os.strerror(code)):
            return ServerBindError(code, message)
    return ServerBindError(message)


class _StreamServer:
    """The server machinery shared by TCPServer and UnixStreamServer."""

    address_family = None          # taken from the address (and set after binding)
    socket_type = socket.SOCK_STREAM
    request_queue_size = 1024      # the listen backlog: where connections wait when the queue is full
    allow_reuse_address = True     # always on for TCP (see hatchway.server.listeners)
    allow_reuse_port = False
    timeout = None                 # handle_request() waits this long; None waits forever
    default_concurrency = "sync"

    def __init__(self, server_address: Any, RequestHandlerClass: Callable[..., Any], bind_and_activate: bool = True,
                 *, concurrency: str | None = None, threads: int | None = None, queue_size: int | None = None,
                 processes: int | None = None, graceful_timeout: float = 30.0) -> None:
        if concurrency is None:
            concurrency = "threads" if threads else "processes" if processes else self.default_concurrency
        if concurrency not in CONCURRENCY:
            raise ValueError(f"concurrency must be one of {', '.join(CONCURRENCY)}, not {concurrency!r}")
        if concurrency == "sync" and threads:
            raise ValueError("threads=N needs concurrency='threads' (or 'processes' for threads per process)")
        if concurrency != "processes" and processes:
            raise ValueError("processes=N needs concurrency='processes'")
        if concurrency == "threads" and threads is None:
            threads = DEFAULT_THREADS
        if threads is not None and threads < (1 if concurrency == "threads" else 0):
            raise ValueError(f"threads must be at least 1, not {threads}")
        if concurrency == "processes":
            processes = processes or os.cpu_count() or 1
            if processes < 1:
                raise ValueError(f"processes must be at least 1, not {processes}")
        self.server_address = server_address
        self.RequestHandlerClass = RequestHandlerClass
        self.concurrency = concurrency
        self.threads = threads or 0
        self.processes = processes or 0
        if queue_size is None:
            queue_size = 4 * self.threads
        if queue_size < 0:
            raise ValueError(f"queue_size must be >= 0, not {queue_size}")
        self.queue_size = queue_size if self.threads else 0
        self.graceful_timeout = graceful_timeout
        self.socket: Any = None  # socketserver's attribute: the listening socket once bound
        self._listener: Listener | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0          # accepted and not finished: waiting in the queue or being handled
        self._running = 0          # being handled right now
        self._want_wake = False    # the accept loop paused on a full queue and wants to hear of room
        self._active: set[socket.socket] = set()  # sockets whose handler is running (for a forced close)
        self._abandon = False      # server_close ran out of patience: close queued connections unserved
        self._pool: ThreadPool | None = None
        self._prefork: Prefork | None = None
        self._wake_r, self._wake_w = _pipe()
        self._shutdown_request = False
        self._serving_thread: threading.Thread | None = None
        self._is_shut_down = threading.Event()
        self._is_shut_down.set()
        self._closed = False
        if bind_and_activate:
            try:
                self.server_bind()
                self.server_activate()
            except BaseException:
                self.server_close()
                raise

    # -- binding -----------------------------------------------------------------------------------
    def server_bind(self) -> None:
        """Bind and listen (hatchway's listeners do both in one step; server_activate is a no-op)."""
        try:
            self._listener = listener = self._open_listener()
        except BindError as exc:
            raise _bind_error(exc) from None
        self.socket = listener.sock
        self.address_family = self.socket.family
        self.server_address = listener.address

    def server_activate(self) -> None:
        pass

    def fileno(self) -> int:
        sock: socket.socket = self.socket
        return sock.fileno()

    # -- introspection -------------------------------------------------------------------------------
    @property
    def busy(self) -> int:
        """Connections being handled by a thread of this process now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Accepted connections queued for a free thread in this process."""
        return self._pending - self._running

    @property
    def worker_pids(self) -> list[int]:
        """The prefork children's process ids (concurrency="processes", while serving)."""
        return self._prefork.pids if self._prefork is not None else []

    # -- serving -------------------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until shutdown() is called (from another thread)."""
        if self._closed:
            raise RuntimeError("server is closed")
        self._is_shut_down.clear()
        self._serving_thread = threading.current_thread()
        try:
            if self.concurrency == "processes":
                self._supervise(poll_interval)
            else:
                self._start_pool()
                self._accept_loop(poll_interval)
        finally:
            self._shutdown_request = False
            self._serving_thread = None
            self._is_shut_down.set()

    def shutdown(self) -> None:
        """Stop serve_forever and wait until it has returned.  Connections already handed to
        threads go on; server_close() waits for them."""
        self._shutdown_request = True
        self._wake()
        if threading.current_thread() is not self._serving_thread:
            self._is_shut_down.wait()

    def handle_request(self) -> None:
        """Wait up to `timeout` for one connection and handle it (in threads mode: queue it)."""
        if self.concurrency == "processes":
            raise RuntimeError("handle_request() serves in this process; concurrency='processes' needs serve_forever()")
        self._start_pool()
        if not self._wait_slot(self.timeout):
            self.handle_timeout()
            return
        poller = select.poll()
        poller.register(self.socket.fileno(), select.POLLIN)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not poller.poll(None if left is None else left * 1000):
                self.handle_timeout()
                return
            if self._accept_one() is not None:
                return

    def server_close(self) -> None:
        """Close the listening socket and wait (up to graceful_timeout) for accepted connections
        to be served; then cut the ones still open and stop the threads."""
        if self._closed:
            return
        if self._serving_thread is not None and threading.current_thread() is not self._serving_thread:
            if self.concurrency == "sync":
                # The serving thread may be inside a handler: give it graceful_timeout, then cut
                # its socket so a handler waiting on a silent client returns.
                self._shutdown_request = True
                self._wake()
                if not self._is_shut_down.wait(self.graceful_timeout):
                    self._cut_active()
            self.shutdown()
        self._closed = True
        if self._listener is not None:
            self._listener.close()
        if self._prefork is not None:
            self._prefork.stop()
            self._prefork = None
        if self._pool is not None:
            self._stop_pool()
        _close_fds(self._wake_r, self._wake_w)
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> _StreamServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.server_close()

    # -- hooks (the socketserver names) ----------------------------------------------------------
    def get_request(self) -> tuple[socket.socket, Any]:
        sock: socket.socket = self.socket
        return sock.accept()

    def verify_request(self, request: socket.socket, client_address: Any) -> bool:
        return True

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        if self._pool is not None:
            self._pool.submit(self._serve_request, request, client_address)
        else:
            self._serve_request(request, client_address)

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        self.RequestHandlerClass(request, client_address, self)

    def shutdown_request(self, request: socket.socket) -> None:
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the peer may have closed already
        self.close_request(request)

    def close_request(self, request: socket.socket) -> None:
        request.close()

    def handle_error(self, request: socket.socket, client_address: Any) -> None:
        """Called (in the handling thread, inside `except`) when a handler raises."""
        exc = sys.exc_info()[1]
        peer = format_peer(client_address)
        if isinstance(exc, TimeoutError):
            log.info("closing connection from %s: timed out", peer)
        elif isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            log.info("connection from %s lost: %s", peer, exc)
        else:
            log.exception("error handling connection from %s", peer)

    def handle_timeout(self) -> None:
        pass

    def service_actions(self) -> None:
        """Called on every pass of the serve_forever loop (at least every poll_interval)."""

    # -- the accept loop -------------------------------------------------------------------------
    def _accept_loop(self, poll_interval: float, stop_fd: int = -1) -> None:
        lfd = self.socket.fileno()
        ep = select.epoll()
        try:
            ep.register(self._wake_r, select.EPOLLIN)
            if stop_fd >= 0:
                ep.register(stop_fd, select.EPOLLIN)
            # Exclusive: prefork children share the socket; one is woken per connection.
            acceptor = Acceptor(ep, (lfd,), exclusive=True)
            retry_at = 0.0
            while not self._shutdown_request:
                # Watch the listener only while a handler slot is free: a full queue leaves
                # connections in the kernel's backlog (backpressure), and watching would spin.
                if self._has_slot() and time.monotonic() >= retry_at:
                    acceptor.resume()
                else:
                    acceptor.pause()
                timeout = poll_interval
                if retry_at and acceptor.paused:
                    timeout = min(timeout, max(0.0, retry_at - time.monotonic()))
                for fd, _ in ep.poll(timeout):
                    if fd == lfd:
                        if accept_batch(self.get_request, self._dispatch, self._may_accept) == STARVED:
                            retry_at = time.monotonic() + STARVED_RETRY
                    elif fd == self._wake_r:
                        _drain(fd)
                    elif fd == stop_fd:
                        self._shutdown_request = True  # EOF: the prefork parent says stop
                self.service_actions()
        finally:
            ep.close()

    def _may_accept(self) -> bool:
        return not self._shutdown_request and self._has_slot()

    def _accept_one(self) -> socket.socket | None:
        """Accept one connection and dispatch it; None when none was waiting."""
        try:
            request, client_address = self.get_request()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        self._dispatch(request, client_address)
        return request

    def _dispatch(self, request: socket.socket, client_address: Any) -> None:
        """verify_request, then process_request (a thread of the pool, or this one)."""
        request.setblocking(True)
        try:
            allowed = self.verify_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            allowed = False
        if not allowed:
            self.shutdown_request(request)
            return
        with self._lock:
            self._pending += 1
        try:
            self.process_request(request, client_address)
        except Exception:
            self._done()
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def _serve_request(self, request: socket.socket, client_address: Any) -> None:
        with self._lock:
            if self._abandon:
                abandon = True
            else:
                abandon = False
                self._running += 1
                self._active.add(request)
        try:
            if not abandon:
                self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._lock:
                if not abandon:
                    self._running -= 1
                    self._active.discard(request)
            self._done()

    # -- the bounded queue ---------------------------------------------------------------------------
    def _limit(self) -> float:
        return self.threads + self.queue_size if self._pool is not None else _INF

    def _has_slot(self) -> bool:
        with self._lock:
            if self._pending < self._limit():
                return True
            self._want_wake = True
            return False

    def _wait_slot(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._pending >= self._limit():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            wake = self._want_wake
            self._want_wake = False
            self._idle.notify_all()
        if wake:
            self._wake()

    def _start_pool(self) -> None:
        if self.threads and self._pool is None:
            self._pool = ThreadPool(self.threads, name=f"{type(self).__name__}-handler")

    def _cut_active(self) -> None:
        """Shut down the sockets whose handler is running (sync mode, past graceful_timeout)."""
        with self._lock:
            if self._active:
                log.warning("server_close: %d connection(s) still open after %.1fs; closing them",
                            len(self._active), self.graceful_timeout)
            for request in self._active:
                try:
                    request.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked on the socket
                except OSError:
                    pass

    def _stop_pool(self) -> None:
        deadline = time.monotonic() + self.graceful_timeout
        with self._lock:
            while self._pending and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            if self._pending:
                log.warning("server_close: %d connection(s) still open after %.1fs; closing them",
                            self._pending, self.graceful_timeout)
                self._abandon = True
                for request in self._active:
                    try:
                        request.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked on the socket
                    except OSError:
                        pass
        if self._pool is not None:
            self._pool.stop(timeout=max(1.0, self.graceful_timeout / 10))
            self._pool = None

    # -- prefork ---------------------------------------------------------------------------------
    def _supervise(self, poll_interval: float) -> None:
        self._prefork = pool = Prefork(self.processes, self._child_main, self.graceful_timeout)
        try:
            pool.start()
            while not self._shutdown_request:
                pool.supervise(poll_interval, self._wake_r)
                _drain(self._wake_r)
                self.service_actions()
        finally:
            pool.stop()
            self._prefork = None

    def _child_main(self, stop_fd: int) -> int:
        """A prefork child: serve from the shared socket until the parent closes `stop_fd`."""
        _close_fds(self._wake_r, self._wake_w)
        release_inherited_sockets({self.socket.fileno()})
        self._wake_r, self._wake_w = _pipe()
        self._prefork = None
        self._serving_thread = threading.current_thread()
        self._start_pool()
        self._accept_loop(0.5, stop_fd)
        if self._pool is not None:
            self._stop_pool()
        return 0

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass  # the pipe is full (a wake-up is pending anyway) or closed (nothing to wake)

    def _open_listener(self) -> Listener:
        raise NotImplementedError


class TCPServer(_StreamServer):
    """A TCP server over IPv4 or IPv6: ("0.0.0.0", port), ("::", port), ("127.0.0.1", 0)..."""

    def _open_listener(self) -> Listener:
        host, port = self.server_address[:2]
        if not host:
            host = "::" if self.address_family == socket.AF_INET6 else "0.0.0.0"
        sock = bind_tcp(host, port, self.request_queue_size, self.allow_reuse_port)
        return Listener(sock, "tcp")


class UnixStreamServer(_StreamServer):
    """A Unix-socket server.  A stale socket file is replaced; the file is removed on close."""

    address_family = socket.AF_UNIX

    def _open_listener(self) -> Listener:
        path = os.fspath(self.server_address)
        return Listener(bind_unix(path, self.request_queue_size), "unix", unlink_path=path)


class ThreadingTCPServer(TCPServer):
    default_concurrency = "threads"


class ThreadingUnixStreamServer(UnixStreamServer):
    default_concurrency = "threads"


class ForkingTCPServer(TCPServer):
    default_concurrency = "processes"


class ForkingUnixStreamServer(UnixStreamServer):
    default_concurrency = "processes"


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


def _close_fds(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass


