"""One HTTP/1.1 connection: the parser's events driven over a socket into a WSGI application.

Life of a connection (states):

    IDLE --bytes--> HEAD --head done--> (BODY: inline mode buffers the body on the loop)
         --> dispatch: the app runs inline on the loop, or on a pool thread (BUSY)
         --> the response is written; if the socket is full, inline mode waits in WRITING
         --> keep-alive: back to IDLE (or straight on to the next pipelined request)
         --> DRAIN while an unread request body is discarded (bounded by max_drain)
    any  --error--> LINGER: error response sent, write side shut, input discarded briefly, close

Exactly one thread owns a connection at a time: the loop, or the pool thread it was handed to.
"""
from __future__ import annotations

from typing import Any

import logging
import os
import select
import socket
import stat
import sys
import tempfile
import time

from ..http import response as framing_rules
from ..http.protocol import Rejection, Request, RequestParser
from ..http.response import CHUNKED, CLOSE, LAST_CHUNK, LENGTH, NO_BODY, InvalidResponse, error_response, frame
from .environ import build_environ
from .errors import BodyError, ClientGone
from .filewrapper import FileWrapper
from .input import EMPTY_INPUT, Input
from .proxy import FORWARDED_KEYS as _FORWARDED_KEYS
from .proxy import apply_forwarded

log = logging.getLogger("hatchway.error")

IDLE, HEAD, BODY, BUSY, WRITING, DRAIN, LINGER, CLOSED = range(8)
RECV_SIZE = 65536
INF = float("inf")
_IOV_MAX = 1024
# With threads, a body still arriving once this much of it is here is handed to the app to stream.
STREAM_AFTER = 65536
# Inline write(): output the socket did not take is held in memory up to this, then in a temp file.
OUTPUT_SPILL = 1 << 20
# A response iterable with this attribute true asks for the connection to close after the response
# (the http.server adapter's `close_connection` set once the head was already out).
CLOSE_AFTER_RESPONSE = "hatchway_close_connection"
EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
# Without TLS, ssl is never imported (about 5 MiB of RSS): the TLS "would block" errors join these
# tuples when the first TLS connection is made (_enable_tls).
_WANT_READ: tuple = (BlockingIOError, InterruptedError)
_WANT_WRITE: tuple = (BlockingIOError, InterruptedError)
_monotonic = time.monotonic


class _FileRange:
    """Part of a file still to be sent with os.sendfile."""

    __slots__ = ("fd", "offset", "count")

    def __init__(self, fd, offset, count):
        self.fd = fd
        self.offset = offset
        self.count = count


class HTTPConnection:
    __slots__ = (
        "worker", "gateway", "sock", "fd", "addr", "parser", "state", "deadline", "idle", "env_base",
        "tls", "peer_eof", "stop_after", "fresh", "head_start", "idle_since", "body_start", "drain_left",
        "drain_start",
        # the exchange in progress
        "req", "status", "headers", "framing", "result", "iterator", "sent", "pending", "blocking",
        "continued", "body_done", "close_after", "started", "_start_response", "_write", "access",
        # what the observer (wsgi/observe.py) reads: timestamps, the request id, an error text
        "ready_at", "app_done", "rid", "error",
        "handoff", "claim", "in_write", "spill", "continue_for",
    )

    req: Any  # None or a value: declared for mypyc
    result: Any  # None or a value: declared for mypyc
    pending: Any  # None or a value: declared for mypyc
    framing: Any  # None or a value: declared for mypyc
    status: Any  # None or a value: declared for mypyc
    headers: Any  # None or a value: declared for mypyc
    iterator: Any  # None or a value: declared for mypyc
    claim: Any  # None or a value: declared for mypyc
    spill: Any  # None or a value: declared for mypyc
    continue_for: Any  # None or a value: declared for mypyc
    rid: Any  # None or a value: declared for mypyc
    error: Any  # None or a value: declared for mypyc
    access: Any  # None or an Observer: declared for mypyc
    def __init__(self, worker, sock, addr, env_base, gateway):
        self.worker = worker
        self.gateway = gateway
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.env_base = env_base
        ssl = sys.modules.get("ssl")  # no ssl module loaded: no TLS socket can exist
        self.tls = ssl is not None and isinstance(sock, ssl.SSLSocket)
        if self.tls and len(_WANT_READ) == 2:
            _enable_tls(ssl)
        self.parser = RequestParser(gateway.limits, gateway.config.body_spill_size)
        self.state = IDLE
        self.idle = True
        self.peer_eof = False
        self.stop_after = False
        self.fresh = True  # no request answered yet
        self.head_start = self.idle_since = worker.now
        # The first request must arrive within the header timeout, not the keep-alive one.
        self.deadline = worker.now + gateway.config.header_timeout
        self.req = None
        self.result = None
        self.pending = None
        self.framing = None
        self.drain_left = 0
        self.blocking = False
        self.handoff = worker.handoff  # None unless the stall hand-off runs (threads > 0, concurrency auto)
        self.claim = None
        self.in_write = False    # inside the app's write() call (inline mode buffers instead of blocking)
        self.spill = None        # the temporary file holding output past OUTPUT_SPILL, while it drains
        self.continue_for = None # the request already sent its 100 Continue by the loop
        self._start_response = self.start_response
        self._write = self.write
        self.access = gateway.observer  # None unless an access log, metrics or ids are on
        self.ready_at = self.started = self.app_done = 0.0
        self.rid = self.error = None

    # ---------------------------------------------------------------- loop callbacks
    def on_readable(self) -> None:
        try:
            data = self.sock.recv(RECV_SIZE)
            if self.tls:
                while self.sock.pending():
                    data += self.sock.recv(RECV_SIZE)
        except _WANT_READ:
            return
        except OSError:
            self._lost("reset while reading")
            return
        if not data:
            self._on_eof()
            return
        # feed(), inlined: this is the per-request read path.
        state = self.state
        if state == LINGER:
            return
        self.parser.feed(data)
        if state == DRAIN:
            self._drain_progress()
            return
        if state == WRITING:
            return  # pipelined bytes wait in the parser until the response is out
        self._process()

    def feed(self, data: bytes) -> None:
        """Bytes of the client's stream, from the socket or read ahead by a pre-step (the PROXY
        protocol handshake hands over what followed its header)."""
        state = self.state
        if state == LINGER:
            return
        self.parser.feed(data)
        if state == DRAIN:
            self._drain_progress()
            return
        if state == WRITING:
            return  # pipelined bytes wait in the parser until the response is out
        self._process()

    def on_writable(self) -> None:
        if self.state != WRITING:
            return
        try:
            done = self._pump()
        except ClientGone as exc:
            self._lost(str(exc) or "gone while writing")
            return
        if done:
            self.state = BUSY  # leave WRITING, so a next response that fills the socket re-arms EPOLLOUT
            self.worker.watch(self, EPOLLIN)
            if self._finish_exchange():
                self._process()

    def on_timeout(self) -> None:
        state = self.state
        if state == IDLE:
            self.close()
        elif state == HEAD:
            log.info("408 to %s: request head not received within %.1fs", self._peer(),
                     self.gateway.config.header_timeout)
            self._reject(408, "Request header timeout")
        elif state == BODY or state == DRAIN:
            log.info("408 to %s: request body arriving below the minimum rate", self._peer())
            if state == BODY:
                self._reject(408, "Request body timeout")
            else:
                self.close()
        elif state == WRITING:
            log.info("closing connection to %s: no write progress for %.1fs", self._peer(),
                     self.gateway.config.write_timeout)
            self._lost(f"no write progress for {self.gateway.config.write_timeout:.1f}s")
        elif state == LINGER:
            self.close()

    def stop_gracefully(self) -> None:
        """Worker shutdown: close at once if idle, else after the response in progress.  A new
        connection's first request or a half-read head is on its way: it is answered (with
        Connection: close) within the header timeout, as accepting it promised."""
        self.stop_after = True
        state = self.state
        if (self.fresh and state == IDLE) or state == HEAD:
            return
        if state == IDLE:
            # Not at once: the client may be sending its next request right now (RFC 9112 9.3.1).
            # Held until idle past the grace, a request that comes is answered with Connection: close.
            self.deadline = min(self.deadline, max(self.idle_since + self.gateway.config.drain_grace,
                                                   self.worker.now))
        elif state == DRAIN:
            self.close()

    # ---------------------------------------------------------------- request flow (owner thread)
    def _process(self) -> None:
        """Answer queued requests in order, as far as the socket and the body allow."""
        parser = self.parser
        queue = parser.queue
        gateway = self.gateway
        while queue:
            item = queue[0]
            if type(item) is Rejection:
                self._reject(item.status, item.reason)
                return
            req = item
            body = req.body
            self.ready_at = self.worker.now  # observer hook: the request is parsed and ready
            if req.has_body and not body.complete:
                if body.error is not None:
                    parser.request_done()  # never dispatched; the Rejection behind it answers
                    continue
                if req.expect_continue and gateway.pool is None and self.continue_for is not req:
                    # Inline: no thread may block on this body, so the loop says 100 Continue at
                    # once and buffers the body like any other (the app reads it complete).
                    if self._send_continue():
                        self.continue_for = req
                if (not req.expect_continue or self.continue_for is req) and (
                        body.received < STREAM_AFTER or gateway.pool is None):
                    # Buffer the body on the loop (spilling to a file past body_spill_size), so a
                    # slow sender holds neither the loop nor a thread.  With threads, a body that
                    # keeps coming past STREAM_AFTER streams to the app, with backpressure.
                    now = self.worker.now
                    if self.state != BODY:
                        self.state = BODY
                        self.idle = False
                        self.body_start = now
                    cfg = gateway.config
                    self.deadline = self.body_start + cfg.body_timeout + body.received / cfg.body_min_rate
                    return
            if gateway.pool is not None and self.handoff is None:
                self._to_thread()
                return
            self.body_start = self.worker.now
            self.state = BUSY  # answering; the next wait (HEAD, WRITING...) starts afresh
            self.idle = False
            handoff = self.handoff
            if handoff is None:
                if not self._respond(req, False):
                    return
            else:
                if not handoff.idle:
                    # Every thread is in the app: running this one inline could hold the loop
                    # with nobody to relieve it.  Wait for a thread instead; the loop goes on.
                    self._to_thread()
                    return
                claim = handoff.claim
                self.claim = claim
                claim.append(self)
                handoff.seq += 1
                if handoff.parked:
                    handoff.wake_monitor()
                done = self._respond(req, False)
                try:
                    claim.pop()
                except IndexError:
                    self._detached_done(done)  # the hand-off took it: this thread is off the loop now
                    return
                if not done:
                    return
            if not self._finish_exchange():
                return
        self._await_next()

    def _send_continue(self) -> bool:
        """`100 Continue` straight to an empty socket buffer; False if it would not go out whole."""
        if self.pending:
            return False
        try:
            return self.sock.send(framing_rules.CONTINUE) == len(framing_rules.CONTINUE)
        except (OSError, ValueError):
            return False  # the dispatch that follows meets the same failure and handles it

    def _to_thread(self) -> None:
        """Hand the connection to a thread (the pool, or the hand-off's queue)."""
        self.state = BUSY
        self.idle = False
        self.deadline = INF
        self.worker.suspend(self)
        self.gateway.pool.submit(self._serve_in_thread)

    def detach(self) -> None:
        """The hand-off stole this exchange from the loop (any thread; the owner is still the thread
        running it): from now on it blocks on its own socket and the loop ignores the connection."""
        self.blocking = True
        self.deadline = INF
        self.worker.suspend(self)

    def _detached_done(self, done: bool) -> None:
        """The rest of a stolen exchange, on the thread that ran it: like a pool thread from here."""
        if self.state == CLOSED or not done:
            return
        try:
            if self._finish_exchange():
                self._serve_in_thread()
            elif self.state == DRAIN:
                self.worker.resume(self)
        except Exception:
            log.exception("unexpected error serving %s", self._peer())
            self.close()

    def _detach_self(self) -> None:
        """About to block inside an inline exchange: give the loop away first."""
        if not self.blocking:
            if not self.handoff.steal(self.claim):
                # The monitor got there first; its detach() may still be on its way.
                self.blocking = True

    def _await_next(self, now: float = -1.0) -> None:
        if self.peer_eof or self.parser.closed and not self.parser.queue:
            self.close()
            return
        in_head = self.parser.in_head
        if now < 0.0:
            now = self.worker.now  # the loop thread's clock, updated per event
        if in_head:
            if self.state != HEAD:
                self.state = HEAD
                self.idle = False
                if not self.fresh:
                    self.head_start = now  # a first request counts from accept, later ones from their first byte
                self.deadline = self.head_start + self.gateway.config.header_timeout
        else:
            self.state = IDLE
            self.idle = True
            self.idle_since = now
            cfg = self.gateway.config
            # Draining: a response framed keep-alive went out; hold the connection for the grace
            # so a request already on its way is answered (with Connection: close), not reset.
            self.deadline = now + (cfg.drain_grace if self.stop_after else cfg.keepalive_timeout)

    def _serve_in_thread(self) -> None:
        """Pool thread: serve queued requests with blocking I/O, then hand the connection back."""
        parser = self.parser
        queue = parser.queue
        try:
            while queue:
                item = queue[0]
                if type(item) is Rejection:
                    self._reject(item.status, item.reason, hand_back=True)
                    return
                req = item
                if req.body.error is not None and not req.body.complete and not req.body.received:
                    parser.request_done()
                    continue
                self.body_start = _monotonic()
                self._respond(req, True)
                if not self._finish_exchange():
                    if self.state == DRAIN or self.state == LINGER:
                        self.worker.resume(self)
                    return
            self._await_next(_monotonic())  # a pool thread's own clock: worker.now is the loop's
            if self.state != CLOSED:
                self.worker.resume(self)
        except Exception:
            log.exception("unexpected error serving %s", self._peer())
            self.close()

    # ---------------------------------------------------------------- the exchange
    def _respond(self, req: Request, blocking: bool) -> bool:
        """Run the application for req.  True when the response is complete, False when the rest
        waits for the socket (inline mode only)."""
        self.req = req
        self.status = None
        self.headers = None
        self.framing = None
        self.result = None
        self.iterator = None
        self.sent = 0
        self.blocking = blocking
        self.continued = self.continue_for is req
        self.body_done = False
        self.close_after = False
        self.started = _monotonic()
        gateway = self.gateway
        try:
            environ = build_environ(self.env_base, req, Input(self, req) if req.has_body else EMPTY_INPUT)
            forwarded = gateway.forwarded
            if forwarded is not None and not _FORWARDED_KEYS.isdisjoint(environ):
                apply_forwarded(environ, forwarded[0], forwarded[1])
            obs = self.access
            if obs is None or not (obs.phases or obs.wraps):
                result = gateway.app(environ, self._start_response)
            else:  # observer hook: the app is called (request id, Server-Timing) and returns
                self.error = None
                self.app_done = 0.0
                result = gateway.app(environ, obs.begin(self, environ) if obs.wraps else self._start_response)
                self.app_done = _monotonic()
            self.result = result
            if type(result) is list and len(result) == 1 and self.status is not None and self.framing is None:
                return self._send_whole(result[0])
            if type(result) is FileWrapper and not self.tls and self.status is not None and self.framing is None:
                sent = self._try_sendfile(result)
                if sent is not None:
                    return sent
            self.iterator = iter(result)
            return self._pump()
        except ClientGone as exc:
            self._lost(str(exc) or "gone")
            return False
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: a 500, never a dead worker
            return self._answer_failure(exc)

    def _answer_failure(self, exc) -> bool:
        try:
            return self._app_failed(exc)
        except ClientGone as gone:
            self._lost(str(gone) or "gone")
            return False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.framing is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        self.status = status
        self.headers = headers
        return self._write

    def write(self, data) -> None:
        """The PEP 3333 write() callable: sends at once, blocking (bounded by write_timeout)."""
        if self.status is None:
            raise AssertionError("write() before start_response()")
        if not data:
            return
        if self.blocking or self.handoff is not None:
            self._emit(data)  # the hand-off: a full socket gives the loop away, then blocks
            return
        # Inline: the app is mid-call and the loop cannot wait here; what the socket does not take
        # stays buffered (spilling to a file) and goes out once the app returns.
        self.in_write = True
        try:
            self._emit(data)
        finally:
            self.in_write = False

    def _keep_alive(self, req) -> bool:
        if not req.keep_alive or self.stop_after or self.peer_eof or self.worker.draining:
            return False
        body = req.body
        if req.has_body and not body.complete:
            if req.expect_continue and not self.continued:
                return False  # the client may or may not send the body now; only closing is safe
            if req.content_length is not None:
                return req.content_length - body.received <= self.gateway.config.max_drain
        return True

    def _frame(self, known_length):
        req = self.req
        keep_alive = req.keep_alive
        if keep_alive and (req.has_body or self.stop_after or self.peer_eof or self.worker.draining):
            keep_alive = self._keep_alive(req)
        f = frame(self.status, self.headers, req.method, req.version, keep_alive, known_length,
                  self.gateway.server_header)
        self.framing = f
        return f

    def _send_whole(self, chunk) -> bool:
        """The common case: the whole body in one piece; one send for head and body."""
        if type(chunk) is not bytes:
            chunk = _as_bytes(chunk)
        n = len(chunk)
        f = self._frame(n)
        self.body_done = True
        if f.mode == NO_BODY:
            return self._write_bufs([f.head])
        length = f.length
        if n != length:
            if n > length:
                self._overflow(n, length)
                chunk = chunk[:length]
                n = length
            else:
                self.close_after = True
                log.error("%s %s: application sent %d of %d promised body bytes; closing",
                          self.req.method, self.req.target.decode("latin-1"), n, length)
        self.sent = n
        if n < 16384:
            data = f.head + chunk
            if self.pending is None and not self.tls:
                try:
                    n = self.sock.send(data)
                except _WANT_WRITE:
                    n = 0
                except OSError as exc:
                    raise ClientGone(f"write failed: {exc.strerror or exc}") from None
                if n == len(data):
                    return True
                return self._write_bufs([memoryview(data)[n:]])
            return self._write_bufs([data])
        return self._write_bufs([f.head, chunk])

    def _try_sendfile(self, wrapper):
        """wsgi.file_wrapper over a real file: head, then os.sendfile with no copies."""
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            offset = filelike.tell()
            st = os.fstat(fd)
        except (AttributeError, OSError, ValueError):
            return None
        size = st.st_size - offset
        if not stat.S_ISREG(st.st_mode) or size <= 0:
            return None  # pipes, /proc files, or nothing left: iterate the file instead
        f = self._frame(size)
        self.body_done = True
        if f.mode == NO_BODY:
            return self._write_bufs([f.head])
        count = min(size, f.length)
        if count < f.length:
            self.close_after = True  # the app promised more than the file holds
        self.sent = count
        return self._write_bufs([f.head, _FileRange(fd, offset, count)])

    def _pump(self) -> bool:
        """Move the app's iterable to the socket.  Returns False when waiting for writability."""
        if self.pending and not self._flush():
            return False
        if self.body_done:
            return True
        it = self.iterator
        emit = self._emit
        try:
            for chunk in it:
                if chunk:
                    if not emit(chunk):
                        return False
                    if self.close_after or self.framing.mode == NO_BODY:
                        break
        except ClientGone:
            raise
        except BaseException as exc:
            return self._answer_failure(exc)
        if self.access is not None and self.access.phases:
            self.app_done = _monotonic()  # observer hook: the app's iterable ended
        if self.status is None:
            return self._answer_failure(AssertionError("application returned without calling start_response"))
        f = self.framing
        if f is None:
            f = self._frame(0)
            self.body_done = True
            if f.mode == LENGTH and f.length:
                log.error("%s %s: application promised %d body bytes and sent none; closing",
                          self.req.method, self.req.target.decode("latin-1"), f.length)
                self.close_after = True
            return self._write_bufs([f.head] if f.mode != CHUNKED else [f.head, LAST_CHUNK])
        self.body_done = True
        if f.mode == CHUNKED:
            return self._write_bufs([LAST_CHUNK])
        if f.mode == LENGTH and self.sent < f.length:
            log.error("%s %s: application sent %d of %d promised body bytes; closing",
                      self.req.method, self.req.target.decode("latin-1"), self.sent, f.length)
            self.close_after = True
        return True

    def _emit(self, chunk) -> bool:
        if type(chunk) is not bytes:
            chunk = _as_bytes(chunk)
        f = self.framing
        if f is None:
            f = self._frame(None)
            bufs = [f.head]
        else:
            bufs = []
        mode = f.mode
        n = len(chunk)
        if mode == LENGTH:
            left = f.length - self.sent
            if n > left:
                self._overflow(self.sent + n, f.length)
                chunk = chunk[:left]
                n = left
            if n:
                bufs.append(chunk)
        elif mode == CHUNKED:
            bufs.append(b"%x\r\n" % n)
            bufs.append(chunk)
            bufs.append(b"\r\n")
        elif mode == CLOSE:
            bufs.append(chunk)
        self.sent += n
        if not bufs:
            return True
        return self._write_bufs(bufs)

    def _overflow(self, attempted: int, length: int) -> None:
        log.error("%s %s: application sent more than its Content-Length (%d > %d); surplus dropped, closing",
                  self.req.method, self.req.target.decode("latin-1"), attempted, length)
        self.close_after = True

    def _app_failed(self, exc) -> bool:
        req = self.req
        if isinstance(exc, BodyError):
            status = exc.status
            log.info("%d to %s: %s", status, self._peer(), exc.reason)
        elif isinstance(exc, InvalidResponse):
            status = 500
            log.error("invalid response from application for %s %s: %s", req.method,
                      req.target.decode("latin-1"), exc)
        else:
            status = 500
            log.error("error in application for %s %s", req.method, req.target.decode("latin-1"), exc_info=exc)
        self.error = f"{status}: {type(exc).__name__}: {exc}"[:300]
        if self.framing is not None:
            # The head is out: the only honest signal left is to cut the connection.
            self._abort()
            return False
        self._close_result()
        self.pending = None
        self.framing = _ErrorFraming(status)
        self.body_done = True
        self.close_after = True
        self.sent = 0
        return self._write_bufs([error_response(status, "")])

    # ---------------------------------------------------------------- finishing
    def _finish_exchange(self) -> bool:
        """The response is out.  Returns True when the connection goes on to the next request."""
        if self.state == CLOSED:
            return False
        self.fresh = False
        req = self.req
        result = self.result
        if type(result) is list:  # the common case: no close(), no marker; skip two failing lookups
            close_asked = False
            self.result = None
        else:
            close_asked = getattr(result, CLOSE_AFTER_RESPONSE, False)
            self._close_result()
        gateway = self.gateway
        f = self.framing
        obs = self.access
        if obs is not None:  # observer hook: the last byte of the response is written
            raw = obs.raw
            if raw is None:
                obs.exchange(self, req, f.code if f else 0)
            else:  # metrics alone: exchange()'s count, recorded here and bucketed once a second
                now = _monotonic()
                ready = self.ready_at
                raw.extend((req.method, f.code if f else 0, now - ready, self.started - ready))
                self.ready_at = now  # a pipelined request behind this one is ready from now
        self.parser.request_done()
        self.req = None
        if self.close_after or f is None or not f.keep_alive or close_asked:
            if req.keep_alive or self.parser.queue:
                self._close_softly()  # the client meant to go on: it may be sending more
            else:
                self.close()
            return False
        body = req.body
        if req.has_body and not body.complete:
            if body.error is not None:
                self.close()
                return False
            # Discard the unread rest of the body, up to max_drain, to keep the connection.  The
            # discarded bytes must keep the body's minimum rate, as if the app were reading them.
            self.drain_left = gateway.config.max_drain
            self.drain_start = body.received
            self.state = DRAIN
            self.idle = False
            now = _monotonic()  # maybe on a pool thread: never write the loop's worker.now
            self.body_start = now
            self.deadline = now + gateway.config.body_timeout
            return False
        return True

    def _drain_progress(self) -> None:
        parser = self.parser
        cur = parser.current
        if cur is not None and not cur.body.complete and cur.body.discard:
            drained = cur.body.received - self.drain_start
            if drained > self.drain_left:
                self.close()
                return
            cfg = self.gateway.config
            self.deadline = self.body_start + cfg.body_timeout + drained / cfg.body_min_rate
            return
        # drained: carry on with whatever follows
        self.state = IDLE
        self._process()

    def _close_result(self) -> None:
        result = self.result
        if result is not None:
            self.result = None
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("error closing the application's iterable")

    # ---------------------------------------------------------------- reading the body (blocking)
    def read_body(self, req) -> None:
        """Called by wsgi.input on the owning thread when it needs more bytes of req's body."""
        sock = self.sock
        if req.expect_continue and not self.continued:
            self.continued = True
            if self.framing is None:
                if self.blocking or self.handoff is not None:
                    self._write_bufs([framing_rules.CONTINUE])
                else:
                    self.blocking = True
                    try:
                        self._write_bufs([framing_rules.CONTINUE])
                    finally:
                        self.blocking = False
        cfg = self.gateway.config
        body = req.body
        while True:
            try:
                data = sock.recv(RECV_SIZE)
                break
            except _WANT_READ:
                if not self.blocking and self.handoff is not None:
                    self._detach_self()  # the body is late: wait off the loop
                deadline = self.body_start + cfg.body_timeout + body.received / cfg.body_min_rate
                timeout = deadline - _monotonic()
                if timeout <= 0 or not _wait(sock, select.POLLIN, timeout):
                    self.close_after = True
                    raise BodyError(408, "request body arriving below the minimum rate") from None
            except OSError as exc:
                raise ClientGone(f"reset while reading the body: {exc}") from None
        if not data:
            self.parser.feed_eof()
            self.peer_eof = True
            raise ClientGone("client closed the connection mid-body")
        self.parser.feed(data)

    # ---------------------------------------------------------------- writing
    def _write_bufs(self, bufs) -> bool:
        if self.pending:
            if self.spill is not None:
                self._spill(bufs)  # behind output already in the file: keep the order
                return self._flush()
            self.pending.extend(bufs)
            return self._flush()
        self.pending = bufs
        return self._flush()

    def _buffer_pending(self) -> None:
        """Inline write() met a full socket: keep the output; past OUTPUT_SPILL bytes, in a file."""
        pending = self.pending
        size = 0
        for b in pending:
            if type(b) is not _FileRange:
                size += len(b)
        if size > OUTPUT_SPILL and self.spill is None:
            self.pending = [pending[0]] if type(pending[0]) is not _FileRange else []
            self._spill(pending[len(self.pending):])
        if not self.blocking:
            self.deadline = self.worker.now + self.gateway.config.write_timeout

    def _spill(self, bufs) -> None:
        f = self.spill
        if f is None:
            f = self.spill = tempfile.TemporaryFile()
        offset = f.seek(0, 2)
        for b in bufs:
            f.write(b)
        count = f.tell() - offset
        pending = self.pending
        last = pending[-1] if pending else None
        if type(last) is _FileRange and last.fd == f.fileno():
            last.count += count
        else:
            pending.append(_FileRange(f.fileno(), offset, count))

    def _flush(self) -> bool:
        """Send pending buffers.  Blocking mode waits (bounded by write_timeout); inline mode
        parks the connection in WRITING and returns False when the socket is full."""
        pending = self.pending
        sock = self.sock
        while pending:
            first = pending[0]
            try:
                if type(first) is _FileRange:
                    if self.tls:  # no sendfile through TLS: only spilled output comes here
                        n = sock.send(os.pread(first.fd, min(first.count, RECV_SIZE), first.offset))
                    else:
                        n = os.sendfile(sock.fileno(), first.fd, first.offset, min(first.count, 1 << 30))
                    if n == 0:
                        raise ClientGone("file ended before the promised length")
                    first.offset += n
                    first.count -= n
                    if not first.count:
                        pending.pop(0)
                        if self.spill is not None and first.fd == self.spill.fileno():
                            self._drop_spill()
                    continue
                if len(pending) == 1 or self.tls or type(pending[1]) is _FileRange:
                    n = sock.send(first)
                else:
                    # A file range is only ever last; the buffers before it go in one sendmsg.
                    end = len(pending) - 1 if type(pending[-1]) is _FileRange else len(pending)
                    n = sock.sendmsg(pending[:min(end, _IOV_MAX)] if end != len(pending) or end > _IOV_MAX
                                     else pending)
            except _WANT_WRITE:
                if self.in_write and not self.blocking and self.handoff is None:
                    self._buffer_pending()
                    return True
                if not self._wait_writable():
                    return False
                continue
            except OSError as exc:
                self.pending = None
                raise ClientGone(f"write failed: {exc.strerror or exc}") from None
            # drop what went out
            while n:
                first = pending[0]
                size = len(first)
                if n >= size:
                    n -= size
                    pending.pop(0)
                    if not pending:
                        break
                    if type(pending[0]) is _FileRange:
                        break
                else:
                    pending[0] = memoryview(first)[n:]
                    n = 0
            if not self.blocking and pending:
                self.deadline = self.worker.now + self.gateway.config.write_timeout
        self.pending = None
        return True

    def _wait_writable(self) -> bool:
        if not self.blocking and self.handoff is not None:
            self._detach_self()  # the socket is full: wait for the reader off the loop
        if self.blocking:
            if not _wait(self.sock, select.POLLOUT, self.gateway.config.write_timeout):
                raise ClientGone("no write progress within write_timeout")
            return True
        if self.state != WRITING:
            self.state = WRITING
            self.idle = False
            self.worker.watch(self, EPOLLOUT)
        self.deadline = self.worker.now + self.gateway.config.write_timeout
        return False

    # ---------------------------------------------------------------- ending
    def _reject(self, status: int, reason: str, hand_back: bool = False) -> None:
        """Answer a protocol error, shut the write side, and discard input briefly (so the peer
        reads our answer instead of a reset), then close."""
        log.info("%d to %s: %s", status, self._peer(), reason)
        self.parser.closed = True
        queue = self.parser.queue
        pending = queue[0] if queue and type(queue[0]) is Request else None  # a body that timed out
        queue.clear()
        answer = error_response(status, reason)
        try:
            sent = self.sock.send(answer)
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError) as exc:
            if self.access is not None:
                self.access.engine(self, status, f"{reason}; not delivered: {exc}", 0, pending)
            self.close()
            return
        if self.access is not None:  # observer hook: the engine answered by itself
            self.access.engine(self, status, reason, sent, pending)
        self.state = LINGER
        self.idle = False
        self.deadline = _monotonic() + self.gateway.config.linger_timeout
        if hand_back:
            self.worker.resume(self)

    def _close_softly(self) -> None:
        """We end a connection the client meant to keep: shut our write side and discard what it
        still sends until its FIN (or linger_timeout), then close.  Closing with unread input
        would send a reset that can destroy the response still in flight (RFC 9112 9.6)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except (OSError, ValueError):
            self.close()
            return
        self.parser.closed = True
        self.state = LINGER
        self.idle = False
        self.deadline = _monotonic() + self.gateway.config.linger_timeout

    def _on_eof(self) -> None:
        self.peer_eof = True
        self.parser.feed_eof()
        state = self.state
        if state == WRITING:
            # A half-closed client still reads its answers: carry on writing (a gone one fails the write).
            self.on_writable()
            return
        if state == LINGER or state == DRAIN or not self.parser.queue:
            self.close()
            return
        self.worker.watch(self, 0)  # level-triggered EOF would fire forever
        self._process()

    def _lost(self, why: str) -> None:
        log.debug("connection from %s lost: %s", self._peer(), why)
        if self.access is not None and self.req is not None:
            self.access.aborted(self, why)  # observer hook: a response cut off
        self.close()

    def _abort(self) -> None:
        log.info("aborting connection to %s after a failure mid-response", self._peer())
        if self.access is not None and self.req is not None:
            self.access.aborted(self, self.error or "failure mid-response")
        self.close()

    def close(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.idle = False
        self.worker.forget(self)
        self._close_result()
        for item in self.parser.queue:
            if type(item) is Request:
                item.body.close()
        cur = self.parser.current
        if cur is not None:
            cur.body.close()
        self.pending = None
        self._drop_spill()
        try:
            self.sock.close()
        except OSError:
            pass

    def metrics_state(self):
        """(connection state index, 1 if a request is in progress) for hatchway_connections."""
        state = self.state
        index = 0 if state == IDLE else 1 if state == HEAD or state == BODY else 2
        return index, 1 if self.req is not None else 0

    def _drop_spill(self) -> None:
        f = self.spill
        if f is not None:
            self.spill = None
            f.close()

    def _peer(self) -> str:
        addr = self.addr
        if isinstance(addr, tuple) and addr and addr[0]:
            return f"{addr[0]}:{addr[1]}"
        return "unix peer"


def _enable_tls(ssl) -> None:
    global _WANT_READ, _WANT_WRITE
    _WANT_READ = (BlockingIOError, InterruptedError, ssl.SSLWantReadError)
    _WANT_WRITE = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError)


def _as_bytes(chunk):
    """A chunk that is not `bytes`: bytes-like is fine (as a flat byte view), anything else is an error."""
    if isinstance(chunk, bytearray):
        return chunk
    if isinstance(chunk, memoryview):
        return chunk if chunk.format == "B" and chunk.ndim == 1 else chunk.cast("B")
    raise TypeError(f"the application must produce bytes, not {type(chunk).__name__}")


class _ErrorFraming:
    """Stands in for a Framing once the server answered on the application's behalf."""

    __slots__ = ("mode", "length", "keep_alive", "code", "head")

    def __init__(self, code):
        self.mode = LENGTH
        self.length = 0
        self.keep_alive = False
        self.code = code
        self.head = b""


def _wait(sock, events: int, timeout: float) -> bool:
    """Block until sock is ready, up to timeout.  By the socket object, never a stored fd number:
    if another thread closed it, the number may already belong to someone else."""
    fd = sock.fileno()
    if fd < 0:
        raise ClientGone("connection closed")
    p = select.poll()
    p.register(fd, events)
    return bool(p.poll(max(0.0, timeout) * 1000))
