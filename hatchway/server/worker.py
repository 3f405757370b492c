"""The worker: one event-loop thread that accepts without blocking and holds every connection.

The loop knows nothing of HTTP.  A connection object (made by `connection_factory`) is anything
with `fd`, `deadline`, `idle`, `idle_since`, `on_readable()`, `on_writable()`, `on_timeout()`, `close()` and
`stop_gracefully()`.  The loop calls those from its own thread only.  A connection may hand
itself to a pool thread; the loop then stops watching it (`suspend`) until the thread gives it
back (`resume`).  At any moment exactly one thread owns a connection, so connections need no
locks.

Timeouts are deadlines on the connections, checked on a coarse tick: no timer heap, no per-request
allocation.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

import functools
import logging
import os
import select
import threading
import time
from collections import deque

from .acceptor import FULL, MORE, STARVED, Acceptor, accept_batch
from .addresses import format_peer
from .config import ServerConfig
from .handoff import Handoff
from .log_summary import LogSummary
from .pool import ThreadPool
from .tls_handshake import TLSHandshake

log: Final = logging.getLogger("hatchway.error")

EPOLLIN: Final = select.EPOLLIN
EPOLLOUT: Final = select.EPOLLOUT
_READ_EVENTS: Final = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR | select.EPOLLRDHUP
TICK: Final = 0.25
EVICTED: Final = "connection limit reached, longest-idle connection closed"  # the log summary's wording


class Connection(Protocol):
    """What the loop needs of a connection (the module docstring's contract)."""

    fd: int
    deadline: float
    idle: bool
    idle_since: float

    def on_readable(self) -> None: ...
    def on_writable(self) -> None: ...
    def on_timeout(self) -> None: ...
    def stop_gracefully(self) -> None: ...
    def close(self) -> None: ...


class Worker:
    """Serve `listeners` with connections from `connection_factory` until shut down."""

    on_tick: Any  # None or a value: declared for mypyc
    pool: Any  # None or a value: declared for mypyc
    _owner: Any  # None or a value: declared for mypyc
    handoff: Any  # None or a value: declared for mypyc
    def __init__(self, listeners: Iterable[Any], connection_factory: Callable[..., Any],
                 config: ServerConfig | None = None) -> None:
        self.listeners: dict[int, Any] = {listener.fd: listener for listener in listeners}
        self.connection_factory = connection_factory
        self.config = config or ServerConfig()
        self.conns: dict[int, Connection] = {}  # fd -> connection (or TLS handshake)
        self.now = time.monotonic()
        mode = self.config.mode
        # auto: the hand-off's standby threads; also `pool`, so queue-wait shedding can wrap it.
        self.handoff = Handoff(self, self.config.threads, self.config.stall_interval) if mode == "auto" else None
        self.pool = ThreadPool(self.config.threads) if mode == "pool" else self.handoff
        self._owner = None  # the token of the thread running the loop (None: handed off, not yet taken)
        self._poll_interval = TICK
        self._epoll: Any = None
        self._wake_r = self._wake_w = -1
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._stop_requested = False
        self.draining = False
        self._stopped = threading.Event()
        self._stopped.set()
        self._running = False
        self.acceptor = Acceptor(None, self.listeners)  # paused until serve_forever has an epoll
        self._closed = False
        self.on_tick = None  # optional hook called on every tick with `now` (liveness, reload checks)
        # Supervised workers: at drain start take what waits in the accept queue, then close the
        # listeners so that new connections are refused instead of queueing for nobody.
        self.close_listeners_on_stop = False
        self.abandoned = 0  # connections stuck past a hard timeout: the drain does not wait for them
        self.log_summary = LogSummary(log)  # evictions and failed handshakes come in floods
        self.loop_thread: Any = None  # the thread running the loop now (it moves under the hand-off)

    # -- life cycle -------------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = TICK) -> None:
        if self._closed:
            raise RuntimeError("server is closed")
        self._stopped.clear()
        self.draining = False
        self._running = True
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._epoll.register(self._wake_r, EPOLLIN)
        if self._calls:
            # Queued before the pipe existed (a signal during start-up): their wake-up went nowhere.
            self._wake()
        self.acceptor.epoll = self._epoll
        self.acceptor.resume()
        self._poll_interval = poll_interval
        if self.handoff is None:
            self.run_loop()
            return
        # The stall hand-off runs the loop on its own threads, never on the caller's: a request
        # stuck in the app must not be able to hold serve_forever (and the process) past a stop.
        self.handoff.start_loop()
        try:
            # In slices: Python runs signal handlers only on the main thread, between bytecodes.
            # A signal the kernel delivered to another thread does not interrupt a plain wait(),
            # and SIGTERM would then go unhandled until something else woke this thread.
            while not self._stopped.wait(0.2):
                pass
        except BaseException:  # KeyboardInterrupt in the caller: stop the loop it started
            self.request_stop(graceful=False)
            self._stopped.wait(5.0)
            raise

    def run_loop(self) -> bool:
        """Run the loop on this thread until the worker stops (True, after cleaning up) or a
        stalled request hands the loop to another thread (False)."""
        stopped = True
        try:
            stopped = self._loop(self._poll_interval)
        finally:
            if stopped:
                self._finish()
        return stopped

    def give_up_loop(self) -> None:
        """The hand-off took the loop from its thread: that thread leaves the loop when it is back."""
        self._owner = None

    def loop_owned(self) -> bool:
        return self._owner is not None and not self._stopped.is_set()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self.loop_thread

    def shutdown(self, graceful: bool = True) -> None:
        """Stop serving; callable from any thread.  Returns when serve_forever has returned."""
        self.request_stop(graceful)
        if self._running and not self.in_loop_thread():
            self._stopped.wait()

    def request_stop(self, graceful: bool = True) -> None:
        """Ask the loop to stop, without waiting; safe from signal handlers and other threads."""
        self._graceful = graceful
        self._stop_requested = True
        self._wake()

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop thread, soon.  Thread-safe."""
        self._calls.append((fn, args))
        self._wake()

    def server_close(self) -> None:
        self._closed = True
        if self.pool is not None:
            self.pool.stop(timeout=1.0)
            self.pool = None
            self.handoff = None
        for listener in self.listeners.values():
            listener.close()
        self.listeners = {}

    # -- used by connections ------------------------------------------------------------------
    def watch(self, conn: Any, events: int) -> None:
        try:
            self._epoll.modify(conn.fd, events)
        except FileNotFoundError:
            self._epoll.register(conn.fd, events)

    def watch_new(self, conn: Any, events: int) -> None:
        """watch() for a connection just accepted: its fd is new to epoll unless a duplicate of a closed
        socket's kept that one registered, so register first (watch's modify-first costs a failing
        syscall and an exception per connection)."""
        try:
            self._epoll.register(conn.fd, events)
        except FileExistsError:
            self._epoll.modify(conn.fd, events)

    def suspend(self, conn: Any) -> None:
        """Stop watching conn: a pool thread owns it now."""
        try:
            self._epoll.unregister(conn.fd)
        except (FileNotFoundError, ValueError, OSError):
            pass

    def resume(self, conn: Any, events: int = EPOLLIN) -> None:
        """A pool thread gives conn back to the loop.  epoll is thread-safe; no wake-up needed."""
        if self._stop_requested or self.draining:
            # Let the loop thread decide, with the rest of the drain.
            self.call_soon(self._resume_on_loop, conn, events)
            return
        try:
            self._epoll.register(conn.fd, events)
        except (FileExistsError, ValueError, OSError):
            self.call_soon(self._resume_on_loop, conn, events)
            return
        if self.acceptor.paused:
            self._wake()  # conn is idle again: the loop may evict it to admit a waiting client

    def _resume_on_loop(self, conn: Connection, events: int) -> None:
        if self.conns.get(conn.fd) is not conn:
            return
        try:
            self._epoll.register(conn.fd, events)
        except FileExistsError:
            self._epoll.modify(conn.fd, events)
        except (ValueError, OSError):
            return
        if self.draining:
            conn.stop_gracefully()

    def replace(self, old: Any, new: Any) -> None:
        self.conns[new.fd] = new

    def forget(self, conn: Any) -> None:
        """conn is closing (any thread): drop it.  Must run before its fd is closed and reused."""
        fd = conn.fd
        if self.conns.get(fd) is conn:
            # No epoll unregister: closing the socket (which follows) removes it from epoll.
            del self.conns[fd]
            if self.acceptor.paused:
                self._wake()

    # -- the loop -------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _loop(self, poll_interval: float) -> bool:
        self.loop_thread = threading.current_thread()
        self._owner = me = object()
        epoll_poll = self._epoll.poll
        conns = self.conns
        listeners = self.listeners
        wake_r = self._wake_r
        monotonic = time.monotonic
        read_events = _READ_EVENTS
        next_tick = monotonic() + poll_interval
        timeout = poll_interval
        while True:
            events = epoll_poll(timeout)
            self.now = now = monotonic()
            for fd, ev in events:
                conn: Connection | None = conns.get(fd)
                if conn is not None:
                    try:
                        if ev & read_events:
                            conn.on_readable()
                            if ev & EPOLLOUT and conns.get(fd) is conn and self._owner is me:
                                conn.on_writable()
                        else:
                            conn.on_writable()
                    except Exception:
                        # A bug in one connection must cost that connection, never the worker.
                        log.exception("unexpected error on a connection; closing it")
                        conn.close()
                elif fd in listeners:
                    self._accept(listeners[fd])
                elif fd == wake_r:
                    self._on_wake()
                if self._owner is not me:
                    return False  # a stalled request took this thread; another one runs the loop
            if now >= next_tick:
                next_tick = now + poll_interval
                self._tick(now)
                if self._owner is not me:
                    return False
            if self._stop_requested and self._progress_stop(now):
                return True
            timeout = max(0.0, next_tick - monotonic()) if not self._calls else 0

    def _on_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        calls = self._calls
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("error in loop callback")
        if self.acceptor.paused and not self.draining and self._room():
            self.acceptor.resume()
        if self._stop_requested and not self.draining:
            self._begin_stop()

    def _room(self) -> bool:
        return len(self.conns) < self.config.max_connections or self._has_idle()

    def _tick(self, now: float) -> None:
        # list(): a C-level copy, atomic under the GIL; pool threads may forget() meanwhile.
        for conn in [c for c in list(self.conns.values()) if c.deadline <= now]:
            if self.conns.get(conn.fd) is conn:
                try:
                    conn.on_timeout()
                except Exception:
                    log.exception("error in timeout handling")
                    conn.close()
        if self.acceptor.paused and not self.draining and self._room():
            self.acceptor.resume()
        self.log_summary.flush(now)
        if self.on_tick is not None:
            self.on_tick(now)

    # -- accepting ------------------------------------------------------------------------------
    def _accept(self, listener: Any) -> int:
        status = accept_batch(listener.accept, functools.partial(self._admit, listener), self._room)
        if status == FULL or status == STARVED:
            # Watched again from _on_wake or _tick once a connection closes (or every tick).
            self.acceptor.pause()
        return status

    def _admit(self, listener: Any, sock: Any, addr: Any) -> None:
        if len(self.conns) >= self.config.max_connections:
            self._evict_idle()
        sock.setblocking(False)
        if listener.kind != "tcp":
            addr = ("", 0) if not addr else (addr, 0)
        try:
            if listener.ssl_context is not None:
                conn: Any = TLSHandshake(self, sock, addr, listener)
            else:
                conn = self.connection_factory(self, sock, addr, listener)
        except OSError as exc:
            log.info("dropping connection from %s: %s", format_peer(addr), exc)
            sock.close()
            return
        self.conns[conn.fd] = conn
        self.watch_new(conn, EPOLLIN)
        if listener.ssl_context is not None:
            conn.on_readable()

    def _has_idle(self) -> bool:
        for conn in list(self.conns.values()):
            if conn.idle:
                return True
        return False

    def _evict_idle(self) -> bool:
        """At the connection limit, close the connection idle the longest to admit a new one:
        idle sockets must never starve a fresh client."""
        oldest = None
        for conn in list(self.conns.values()):
            if conn.idle and (oldest is None or conn.idle_since < oldest.idle_since):
                oldest = conn
        if oldest is None:
            return False
        self.log_summary.note(self.now, logging.INFO, EVICTED,
                              "connection limit (%d) reached: closing the longest-idle connection",
                              self.config.max_connections)
        oldest.close()
        return True

    # -- stopping -------------------------------------------------------------------------------
    def _begin_stop(self) -> None:
        self.draining = True
        self._stop_deadline = self.now + (self.config.graceful_timeout if self._graceful else 0.0)
        self.acceptor.pause()
        if self.close_listeners_on_stop:
            if self._graceful:
                self._take_backlog()
            for listener in self.listeners.values():
                listener.close()
            # Emptied in place: the loop's batch in progress may still name a listener's fd, and
            # accept() on the closed socket would raise out of the loop and drop every connection.
            self.listeners.clear()
        for conn in list(self.conns.values()):
            if self.conns.get(conn.fd) is conn:
                conn.stop_gracefully()

    def _take_backlog(self) -> None:
        """Accept every connection already queued, so closing the listener resets none of them."""
        for listener in self.listeners.values():
            for _ in range(64):
                try:
                    if self._accept(listener) != MORE:
                        break
                except OSError as exc:
                    log.warning("accepting the backlog of %s failed: %s", listener.name, exc)
                    break

    def _progress_stop(self, now: float) -> bool:
        if not self.draining:
            self._begin_stop()
        if len(self.conns) <= self.abandoned:
            return True
        if now >= self._stop_deadline:
            n = len(self.conns)
            if n:
                log.warning("graceful timeout: closing %d connection(s) still open", n)
            for conn in list(self.conns.values()):
                conn.close()
            return True
        return False

    def _finish(self) -> None:
        for conn in list(self.conns.values()):
            try:
                conn.close()
            except Exception:
                pass
        self.conns.clear()
        self.log_summary.flush(self.now, force=True)
        try:
            self._epoll.close()
        finally:
            # Forget the numbers before closing: a pool thread's late _wake() must not write into
            # whatever file reuses them.
            wake_r, wake_w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
            os.close(wake_r)
            os.close(wake_w)
            # Cleared here, not at start: a stop requested while the loop was starting is kept.
            self._stop_requested = False
            self._running = False
            self._owner = None
            self._stopped.set()
