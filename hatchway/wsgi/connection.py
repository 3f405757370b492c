"""One HTTP/1.1 connection: the parser's events driven over a socket into a WSGI application.

The states and their allowed transitions are in wsgi/connstates.py (a diagram and the same as a
table); every change goes through `_enter`.  This module holds the loop's callbacks (bytes in,
socket writable, timeouts, shutdown), the order of requests (pipelining, the body buffered on the
loop, the hand-off to a thread), and what follows a response (keep-alive, drain, linger, close).
The exchange itself (the WSGI callables, framing, writing, body reads) is wsgi/exchange.py.

Exactly one thread owns a connection at a time: the loop, or the pool thread it was handed to.

The seam for other front ends (the http.server-style handler API subclasses this class):
`_respond(req, blocking) -> bool` runs one exchange for a parsed `Request` and says True when the
response is complete (False: the rest waits for the socket, inline mode only); `start_response`
and `write` are the PEP 3333 callables; `_write_bufs(bufs)` sends bytes in order.
"""
from __future__ import annotations

from typing import Final

import logging
import os
import select
import socket
import time

from ..http import response as framing_rules
from ..http.events import Rejection, Request
from ..http.body import Body
from ..http.response import error_response
from ..server import outbuf
from ..server.errors import ClientGone
from .connstates import BODY, BUSY, CLOSED, DRAIN, HEAD, IDLE, LINGER, WRITING
from .exchange import INF, RECV_SIZE, UNCLAIMED, Exchange, mypyc_attr

log: Final = logging.getLogger("hatchway.error")

# With threads, a body still arriving once this much of it is here is handed to the app to stream.
STREAM_AFTER: Final = 65536
# A response iterable with this attribute true asks for the connection to close after the response
# (the http.server adapter's `close_connection` set once the head was already out).
CLOSE_AFTER_RESPONSE: Final = "hatchway_close_connection"
EPOLLIN: Final = select.EPOLLIN
_monotonic: Final = time.monotonic
_read: Final = os.read


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTPConnection(Exchange):
    __slots__ = ()

    # ---------------------------------------------------------------- loop callbacks
    def on_readable(self) -> None:
        try:
            if self.tls:
                data = self.sock.recv(RECV_SIZE)
                while self.sock.pending():
                    data += self.sock.recv(RECV_SIZE)
            else:
                # os.read: read(2) is recv(2) without flags, minus socket.recv's PyArg_ParseTuple (about
                # 1k instructions a request).  fileno() each time, not self.fd: a closed socket says -1
                # (EBADF), where a remembered number could by then name another file.
                data = _read(self.sock.fileno(), RECV_SIZE)
        except outbuf.WANT_READ:
            return
        except OSError:
            self._lost("reset while reading")
            return
        if not data:
            self._on_eof()
            return
        # feed(), inlined: the per-request read path (tests/wsgi/test_wsgi_connection_feed.py: the two agree).
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
        handoff = self.handoff
        try:
            if handoff is None or self.body_done:
                done = self._pump()  # only bytes already framed move: no app code runs
            else:
                # The app's iterable runs again on the loop: claimed, as in _process, so the
                # monitor hands the loop off if it stalls.
                claim = handoff.enter(self)
                try:
                    done = self._pump()
                finally:
                    stolen = False
                    if self.claim is not None:  # None: it parked again and ended the claim itself
                        try:
                            claim.pop()
                            self.claim = UNCLAIMED
                        except IndexError:
                            stolen = True  # the hand-off took it: this thread is off the loop now
                if stolen:
                    self._await_detach()
                    if done and self.state == WRITING:
                        self._enter(BUSY, INF)
                    self._detached_done(done)
                    return
        except ClientGone as exc:
            self._lost(str(exc) or "gone while writing")
            return
        if done:
            # Leave WRITING, so a next response that fills the socket re-arms EPOLLOUT.
            self._enter(BUSY, INF)
            self.worker.watch(self, EPOLLIN)
            if self._finish_exchange():
                self._process()

    def on_timeout(self) -> None:
        state = self.state
        cfg = self.gateway.config
        if state == HEAD:
            self._reject(408, f"request header timeout: head not received within {cfg.header_timeout:.1f}s")
        elif state == BODY:
            self._reject(408, "request body timeout: arriving below the minimum rate")
        elif state == WRITING:
            log.info("closing connection to %s: no write progress for %.1fs", self._peer(), cfg.write_timeout)
            self._lost(f"no write progress for {cfg.write_timeout:.1f}s")
        elif state == DRAIN:
            log.info("closing connection to %s: unread request body discarded below the minimum rate",
                     self._peer())
            self.close()
        elif state == IDLE or state == LINGER:
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
            self._enter(IDLE, min(self.deadline, max(self.idle_since + self.gateway.config.drain_grace,
                                                     self.worker.now)))
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
            req: Request = item  # typed: the compiled build reads its fields natively
            body: Body = req.body
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
                    if self.state != BODY:
                        self.body_start = self.worker.now
                    cfg = gateway.config
                    self._enter(BODY, self.body_start + cfg.body_timeout + body.received / cfg.body_min_rate)
                    return
            if gateway.pool is not None and self.handoff is None:
                self._to_thread()
                return
            self.body_start = self.worker.now
            self._enter(BUSY, INF)  # answering; the next wait (HEAD, WRITING...) starts afresh
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
                claim = handoff.enter(self)
                done = self._respond(req, False)
                if self.claim is None:
                    return  # parked for a full socket: it ended the claim itself (_wait_writable)
                try:
                    claim.pop()
                    self.claim = UNCLAIMED  # not None only while claimed
                except IndexError:
                    self._await_detach()
                    self._detached_done(done)  # the hand-off took it: this thread is off the loop now
                    return
                if not done:
                    return
            if not self._finish_exchange():
                return
        self._await_next()

    def _send_continue(self) -> bool:
        """`100 Continue` straight to an empty socket buffer; False if it would not go out whole."""
        out = self.out
        if out is not None and out.bufs:
            return False
        try:
            return self.sock.send(framing_rules.CONTINUE) == len(framing_rules.CONTINUE)
        except (OSError, ValueError):
            return False  # the dispatch that follows meets the same failure and handles it

    def _to_thread(self) -> None:
        """Hand the connection to a thread (the pool, or the hand-off's queue)."""
        self._enter(BUSY, INF)
        self.worker.suspend(self)
        self.gateway.pool.submit(self._serve_in_thread)

    def detach(self) -> None:
        """The hand-off stole this exchange from the loop (any thread; the owner is still the thread
        running it): from now on it blocks on its own socket and the loop ignores the connection.
        No state change: the exchange is BUSY, whose deadline is already infinite.  The flag is set
        last: an owner that lost its claim waits for it (_await_detach), so this suspend can never
        land after the owner has handed the connection back to the loop."""
        self.worker.suspend(self)
        self.blocking = True

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

    def _await_next(self, now: float = -1.0) -> None:
        if self.peer_eof or self.parser.closed and not self.parser.queue:
            self.close()
            return
        if now < 0.0:
            now = self.worker.now  # the loop thread's clock, updated per event
        gateway = self.gateway
        if self.parser.in_head:
            if self.state != HEAD:
                if not self.fresh:
                    self.head_start = now  # a first request counts from accept, later ones from their first byte
                self._enter(HEAD, self.head_start + gateway.header_timeout)
        else:
            self.idle_since = now
            # Draining: a response framed keep-alive went out; hold the connection for the grace
            # so a request already on its way is answered (with Connection: close), not reset.
            self._enter(IDLE, now + (gateway.drain_grace if self.stop_after else gateway.keepalive_timeout))

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
                req: Request = item
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
        else:
            close_asked = getattr(result, CLOSE_AFTER_RESPONSE, False)
            self._close_result()
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
        self._clear_exchange()
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
            self.drain_start = body.received
            now = _monotonic()  # maybe on a pool thread: never write the loop's worker.now
            self.body_start = now
            self._enter(DRAIN, now + self.gateway.config.body_timeout)
            return False
        return True

    def _drain_progress(self) -> None:
        cur = self.parser.current
        if cur is not None and not cur.body.complete and cur.body.discard:
            drained = cur.body.received - self.drain_start
            cfg = self.gateway.config
            if drained > cfg.max_drain:
                self.close()
                return
            self._enter(DRAIN, self.body_start + cfg.body_timeout + drained / cfg.body_min_rate)
            return
        # drained: carry on with whatever follows (_process or _await_next sets the next deadline)
        self._enter(IDLE, self.deadline)
        self._process()

    # ---------------------------------------------------------------- ending
    def _reject(self, status: int, reason: str, hand_back: bool = False) -> None:
        """Answer a protocol error, shut the write side, and discard input briefly (so the peer
        reads our answer instead of a reset), then close.  The one log line of the rejection."""
        log.info("%d to %s: %s", status, self._peer(), reason)
        self.parser.closed = True
        queue = self.parser.queue
        pending = queue[0] if queue and type(queue[0]) is Request else None  # a body that timed out
        queue.clear()
        answer = error_response(status, reason, self.gateway.server_header)
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
        self._enter(LINGER, _monotonic() + self.gateway.config.linger_timeout)
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
        self._enter(LINGER, _monotonic() + self.gateway.config.linger_timeout)

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

    def metrics_state(self):
        """(connection state index, 1 if a request is in progress) for hatchway_connections."""
        state = self.state
        index = 0 if state == IDLE else 1 if state == HEAD or state == BODY else 2
        return index, 1 if self.req is not None else 0
