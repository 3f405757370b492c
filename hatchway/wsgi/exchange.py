"""The PEP 3333 side of a connection: one request/response exchange with the WSGI application.

`Exchange` is the base of `HTTPConnection` (wsgi/connection.py): it holds the connection's fields
and the one state-transition method, runs the application for a request (`_respond`), gives it
`start_response` and `write`, frames the response (http/response.py decides, http/bodywriters.py
encodes), hands the bytes to the output buffer (server/outbuf.py), and reads the request body for
`wsgi.input`.  The loop callbacks and the order of requests live in the subclass.
"""
from __future__ import annotations

from typing import Any, Final

import logging
import os
import select
import sys
import time

from ..http import response as framing_rules
from ..http.bodywriters import LAST_CHUNK, LengthWriter, as_bytes, writer_for
from ..http.events import Request
from ..http.protocol import RequestParser
from ..http.response import CHUNKED, LENGTH, NO_BODY, Framing, InvalidResponse, error_response, frame
from ..server import outbuf
from ..server.addresses import format_peer
from ..server.errors import ClientGone
from ..server.handoff import Handoff
from ..server.outbuf import OutputBuffer, file_range, wait
from .connstates import CLOSED, IDLE, WRITING
from .environ import build_environ
from .errors import BodyError
from .filewrapper import FileWrapper
from .gateway import Gateway
from .input import EMPTY_INPUT, Input
from .proxy import apply_forwarded

try:  # the compiled build lets interpreted Python subclass the connection (the handler API does)
    from mypy_extensions import mypyc_attr
except ImportError:  # pure build without mypy_extensions: the decorator has nothing to do
    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:  # type: ignore[misc]
        return lambda cls: cls

log: Final = logging.getLogger("hatchway.error")

RECV_SIZE: Final = 65536
INF: Final = float("inf")
# The claim slot while the exchange holds no claim on the loop (see Handoff.enter).
UNCLAIMED: Final = None
# Inline write(): output the socket did not take is held in memory up to this, then in a temp file.
OUTPUT_SPILL: Final = 1 << 20
# Under the hand-off, body bytes an inline exchange coalesces before it sends them itself (see _emit).
DEFER_MAX: Final = 65536
EPOLLOUT: Final = select.EPOLLOUT
_monotonic: Final = time.monotonic
_write: Final = os.write

# The test hook: a list that `_enter` appends (old state, new state) to; None (the default) costs
# one global load and compare per transition.
_trace: Any = None


def has_forwarded(environ: dict[str, Any]) -> bool:
    """Whether the request carries any of proxy.FORWARDED_KEYS (tests hold the two to the same set):
    six lookups spelled out run 3-5x faster than a set operation, in either build."""
    return ("HTTP_X_FORWARDED_FOR" in environ or "HTTP_X_FORWARDED_PROTO" in environ
            or "HTTP_X_FORWARDED_HOST" in environ or "HTTP_X_FORWARDED_PORT" in environ
            or "HTTP_X_FORWARDED_PREFIX" in environ or "HTTP_FORWARDED" in environ)


def record_transitions(sink: Any) -> None:
    """Tests: append every state transition of every connection to `sink` (None stops)."""
    global _trace
    _trace = sink


@mypyc_attr(allow_interpreted_subclasses=True)
class Exchange:
    __slots__ = (
        "worker", "gateway", "sock", "fd", "addr", "parser", "state", "deadline", "env_base",
        "tls", "peer_eof", "stop_after", "fresh", "head_start", "idle_since", "body_start",
        "drain_start", "out", "_start_response", "access", "handoff", "claim", "continue_for",
        # the exchange in progress
        "req", "status", "headers", "framing", "writer", "result", "iterator", "sent", "blocking",
        "continued", "body_done", "close_after", "started", "in_write",
        # what the observer (wsgi/observe.py) reads: timestamps, the request id, an error text
        "ready_at", "app_done", "rid", "error",
    )

    # Typed for the compiled build: a typed slot of a native class is a struct load, an untyped
    # one a generic attribute lookup.  The worker stays untyped (tests drive a connection with a
    # stand-in loop).
    worker: Any
    gateway: Gateway
    sock: Any
    fd: int
    addr: Any
    parser: RequestParser
    state: int
    deadline: float
    env_base: dict[str, Any]
    tls: bool
    peer_eof: bool
    stop_after: bool
    fresh: bool
    head_start: float
    idle_since: float
    body_start: float
    drain_start: int
    handoff: Handoff | None
    sent: int
    blocking: bool
    continued: bool
    body_done: bool
    close_after: bool
    started: float
    in_write: bool
    ready_at: float
    app_done: float
    req: Any  # None or a value: declared for mypyc
    _start_response: Any  # None once closed: the bound method is a cycle through the connection
    result: Any
    out: Any  # None until output first has to wait for the socket, then the connection's OutputBuffer
    framing: Any
    writer: Any
    status: Any
    headers: Any
    iterator: Any
    claim: Any
    continue_for: Any
    rid: Any
    error: Any
    access: Any  # None or an Observer

    def __init__(self, worker: Any, sock: Any, addr: Any, env_base: dict[str, Any], gateway: Gateway) -> None:
        self.worker = worker
        self.gateway = gateway
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.env_base = env_base
        ssl = sys.modules.get("ssl")  # no ssl module loaded: no TLS socket can exist
        # Literal bools: compiled by mypyc, isinstance() against a class reached through an untyped module
        # gives an int, which the `tls: bool` slot (and OutputBuffer's) refuses.
        self.tls = True if ssl is not None and isinstance(sock, ssl.SSLSocket) else False
        if self.tls:
            outbuf.enable_tls(ssl)
        self.parser = RequestParser(gateway.limits, gateway.config.body_spill_size)
        self.state = IDLE
        self.peer_eof = False
        self.stop_after = False
        self.fresh = True  # no request answered yet
        self.head_start = self.idle_since = self.body_start = worker.now
        self.drain_start = 0
        # The first request must arrive within the header timeout, not the keep-alive one.
        self.deadline = worker.now + gateway.config.header_timeout
        self.req = None
        self.result = None
        self.out = None
        self.status = None
        self.headers = None
        self.framing = None
        self.writer = None
        self.iterator = None
        self.blocking = False
        self.handoff = worker.handoff  # None unless the stall hand-off runs (threads > 0, concurrency auto)
        self.claim = None
        self.in_write = False    # inside the app's write() call (inline mode buffers instead of blocking)
        self.continue_for = None # the request already sent its 100 Continue by the loop
        self._start_response = self.start_response
        self.access = gateway.observer  # None unless an access log, metrics or ids are on
        self.ready_at = self.started = self.app_done = 0.0
        self.rid = self.error = None

    @property
    def idle(self) -> bool:
        """Waiting for a next request on a keep-alive connection (the worker may evict it)."""
        return self.state == IDLE

    def _enter(self, state: int, deadline: float) -> None:
        """The one state transition: the new state and the deadline by which it must be left."""
        if _trace is not None and state != self.state:
            _trace.append((self.state, state))
        self.state = state
        self.deadline = deadline

    # ---------------------------------------------------------------- the exchange
    def _respond(self, req: Request, blocking: bool) -> bool:
        """Run the application for req.  True when the response is complete, False when the rest
        waits for the socket (inline mode only)."""
        self.req = req  # status, headers, framing, writer, result, iterator: None (_clear_exchange)
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
            if forwarded is not None and has_forwarded(environ):
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
        return self.write

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

    def _frame(self, known_length: int | None) -> Framing:
        req = self.req
        keep_alive = req.keep_alive
        if keep_alive and (req.has_body or self.stop_after or self.peer_eof or self.worker.draining):
            keep_alive = self._keep_alive(req)
        f = frame(self.status, self.headers, req.method, req.version, keep_alive, known_length,
                  self.gateway.server_header)
        self.framing = f
        return f

    def _send_whole(self, chunk: Any) -> bool:
        """The common case: the whole body in one piece; one send for head and body."""
        if type(chunk) is not bytes:
            chunk = as_bytes(chunk)
        n = len(chunk)
        f = self._frame(n)
        self.body_done = True
        if f.mode == NO_BODY:
            return self._write_bufs([f.head])
        if n != f.length:  # the app's own Content-Length disagrees with its body
            writer = LengthWriter(f.length)
            bufs = [f.head]
            if not writer.write(chunk, bufs):
                self._overflow(writer.attempted, f.length)
            elif writer.missing():
                self._short(writer)
            self.sent = writer.sent
            return self._write_bufs(bufs)
        self.sent = n
        if n < 16384:
            data = f.head + chunk
            if self.out is None and not self.tls:
                try:
                    n = _write(self.sock.fileno(), data)  # write(2): send(2) minus its arg parsing (on_readable)
                except outbuf.WANT_WRITE:
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
        rng = file_range(wrapper.filelike)
        if rng is None:
            return None  # pipes, /proc files, or nothing left: iterate the file instead
        f = self._frame(rng.count)
        self.body_done = True
        if f.mode == NO_BODY:
            return self._write_bufs([f.head])
        if rng.count < f.length:
            self.close_after = True  # the app promised more than the file holds
        rng.count = min(rng.count, f.length)
        self.sent = rng.count
        return self._write_bufs([f.head, rng])

    def _pump(self) -> bool:
        """Move the app's iterable to the socket.  Returns False when waiting for writability."""
        out = self.out
        if out is not None and out.bufs and not self._flush():
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
        self.body_done = True
        writer = self.writer
        if writer is None:  # no body at all
            f = self._frame(0)
            if f.mode == LENGTH and f.length:
                log.error("%s %s: application promised %d body bytes and sent none; closing",
                          self.req.method, self.req.target.decode("latin-1"), f.length)
                self.close_after = True
            return self._write_bufs([f.head] if f.mode != CHUNKED else [f.head, LAST_CHUNK])
        if writer.missing():
            self._short(writer)
        bufs: list = []
        writer.end(bufs)
        # With an output buffer, always through it: deferred output goes out, and a send of it that
        # failed on the monitor's side is reported here, not taken for a complete response.
        return self._write_bufs(bufs) if bufs or self.out is not None else True

    def _emit(self, chunk) -> bool:
        if type(chunk) is not bytes:
            chunk = as_bytes(chunk)
        writer = self.writer
        if writer is None:
            f = self._frame(None)
            writer = self.writer = writer_for(f.mode, f.length)
            bufs = [f.head]
        else:
            bufs = []
        if not writer.write(chunk, bufs):
            self._overflow(writer.attempted, writer.length)
        self.sent = writer.sent
        if not bufs:
            return True
        handoff = self.handoff
        if handoff is not None and self.claim is not None and not self.blocking and not self.tls:
            # Inline under a claim: coalesce the app's blocks, one sendmsg for many.  PEP 3333 allows
            # holding a block only while another thread keeps it moving as the app produces the next:
            # the hand-off's monitor sends deferred output on its next wake, a few ms at most.  (Not
            # TLS: an SSL object must not be written by one thread while another reads it.)
            out = self.out
            if out is None:
                out = self.out = OutputBuffer(self.sock, self.tls)
            if out.defer(bufs, len(chunk), handoff.out_lock, handoff.deferring, DEFER_MAX):
                return True
            return self._flush()
        return self._write_bufs(bufs)

    def _overflow(self, attempted: int, length: int) -> None:
        log.error("%s %s: application sent more than its Content-Length (%d > %d); surplus dropped, closing",
                  self.req.method, self.req.target.decode("latin-1"), attempted, length)
        self.close_after = True

    def _short(self, writer) -> None:
        log.error("%s %s: application sent %d of %d promised body bytes; closing",
                  self.req.method, self.req.target.decode("latin-1"), writer.sent, writer.length)
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
        if self.out is not None:
            self.out.clear()
        self.framing = Framing(b"", LENGTH, 0, False, status)  # the server answered for the app
        self.body_done = True
        self.close_after = True
        self.sent = 0
        return self._write_bufs([error_response(status, "", self.gateway.server_header, req.method == "HEAD")])

    def _clear_exchange(self) -> None:
        """The exchange is over: drop what it held, so an idle connection keeps none of it (the
        head's bytes, the app's header list and result: a few hundred bytes a connection)."""
        self.req = None
        self.result = None
        self.status = None
        self.headers = None
        self.framing = None
        self.writer = None
        self.iterator = None

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
            except outbuf.WANT_READ:
                if not self.blocking and self.handoff is not None:
                    self._detach_self()  # the body is late: wait off the loop
                deadline = self.body_start + cfg.body_timeout + body.received / cfg.body_min_rate
                timeout = deadline - _monotonic()
                if timeout <= 0 or not wait(sock, select.POLLIN, timeout):
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
        out = self.out
        if out is None:
            out = self.out = OutputBuffer(self.sock, self.tls)
        out.add(bufs)
        return self._flush()

    def _flush(self) -> bool:
        """Send what is pending.  Blocking mode waits (bounded by write_timeout); inline mode parks
        the connection in WRITING and returns False when the socket is full, except inside the
        app's write(), where the output is held (spilling to a file) until the app returns."""
        out = self.out
        while not out.send():
            if self.in_write and not self.blocking and self.handoff is None:
                out.hold(OUTPUT_SPILL)
                return True
            if not self._wait_writable():
                return False
        return True

    def _wait_writable(self) -> bool:
        self.out.reclaim()  # output the socket did not take: from here its owner sees it out, not the monitor
        if self.in_write and not self.blocking and self.handoff is not None:
            # The app is inside write() and cannot be suspended: give the loop away, then block.
            # Any other full socket parks the exchange in WRITING, as inline mode does; the loop
            # resumes it when the socket drains (under a claim, if the app's iterable runs again).
            self._detach_self()
        claim = self.claim
        if claim is not None and not self.blocking:
            # Parking under a claim: end the claim first, so that a steal cannot land on an exchange
            # the loop will also resume (two owners).  Whoever pops first wins; None tells the code
            # that claimed it that the exchange parked and the claim is already over.
            try:
                claim.pop()
                self.claim = None
            except IndexError:
                self._await_detach()  # stolen: blocking from here
        if self.blocking:
            if not wait(self.sock, select.POLLOUT, self.gateway.config.write_timeout):
                raise ClientGone("no write progress within write_timeout")
            return True
        if self.state != WRITING:
            self.worker.watch(self, EPOLLOUT)
        self._enter(WRITING, self.worker.now + self.gateway.config.write_timeout)
        return False

    def _detach_self(self) -> None:
        """About to block inside an inline exchange: give the loop away first."""
        if not self.blocking:
            handoff = self.handoff
            claim = self.claim
            if handoff is None or claim is None:
                self.blocking = True
            elif not handoff.steal(claim):
                self._await_detach()  # the monitor got there first

    def _await_detach(self) -> None:
        """The monitor took our claim: wait for its detach() (it sets `blocking` last), so its suspend
        cannot come after we give the connection back and orphan it.  The bound is a backstop."""
        deadline = _monotonic() + 1.0
        while not self.blocking and _monotonic() < deadline:
            time.sleep(0)  # lets the monitor thread take the GIL
        self.blocking = True

    # ---------------------------------------------------------------- ending
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
        self._enter(CLOSED, INF)
        self.worker.forget(self)
        self._close_result()
        self.parser.release()
        self._start_response = None
        if self.out is not None:
            self.out.clear()
        try:
            self.sock.close()
        except OSError:
            pass

    def _peer(self) -> str:
        return format_peer(self.addr)

