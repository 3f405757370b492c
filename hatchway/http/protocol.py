"""HTTP/1.1 request parsing as a sans-I/O state machine: bytes in, requests out, no sockets.

`RequestParser.feed(data)` tokenizes with llhttp and appends to `queue`, in arrival order:

* a `Request` when a head is complete (its `body` then fills as body bytes arrive, and
  `body.complete` turns true at the end of the message), or
* a `Rejection` when the bytes break a rule of `policy`; nothing after it is parsed
  (both events are defined in `events.py`).

Pipelined requests queue up behind the one in flight: the caller answers each, strictly in
order.  None is ever dropped: once `Limits.max_pipelined` requests are queued, further input is kept
unparsed until half of them are done, so a flood of tiny pipelined requests costs bytes, not request
objects (the native tokenizer pauses right after the last head there is room for; httptools cannot,
so the pure build parses a feed that could overflow in `FEED_SLICE` steps).
"""
from __future__ import annotations

from typing import Any, Final

import httptools
from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from . import policy
from .body import EMPTY_BODY, Body
from .events import Rejection, Request
from .chunked import ChunkedDecoder
from .heads import few_heads
from .policy import (
    CODING_FIELD, EXPECT_FIELD, HOST_FIELD, KEEP_FIRST_MASK, LENGTH_FIELD, SINGLETON, Limits, Reject,
)

# The compiled build's own llhttp binding (_tokenizer.c: one call per head instead of one per field), when it is
# installed; the pure build drives the same llhttp through httptools.
# The fields the native tokenizer passes to on_field as they arrive: those the protocol layer looks at.
_NOTED: Final = tuple(policy.FIELD_KINDS)
try:
    from ._tokenizer import Tokenizer as _NativeTokenizer, note_fields as _note_fields
    _note_fields(_NOTED)
except ImportError:
    _NativeTokenizer = None  # type: ignore[assignment,misc]
NATIVE_TOKENIZER: Final = _NativeTokenizer is not None
# Codes of _tokenizer.c's on_limit(code).
_LIMIT_TARGET: Final = 1
_LIMIT_FIELDS: Final = 2

# Header kind by the name exactly as received: browsers send the same few spellings, so after the
# first request a field costs one dict lookup and no lower().  Bounded: names past the bound are
# looked up lower-cased each time, as they were before the cache.
_KIND_CACHE: Final[dict[bytes, int]] = {}
_KIND_CACHE_MAX: Final = 512
# Most names are ruled out by their length alone, a cheaper test than hashing them.
_KIND_LENGTHS: Final = frozenset(len(name) for name in policy.FIELD_KINDS)
_METHODS: Final[dict[bytes, str]] = {}
_CRLF2: Final = b"\r\n\r\n"
# Host values already found valid: a server sees the same few, and a set lookup is cheaper than the
# regex.  Bounded: past the bound, new values are checked each time.
_GOOD_HOSTS: Final[set[bytes]] = set()
_GOOD_HOSTS_MAX: Final = 256


def _kind(name: bytes) -> int:
    """The kind of a field name as received (policy.field_kind of it lower-cased), remembered."""
    kind = policy.field_kind(name.lower())
    if len(_KIND_CACHE) < _KIND_CACHE_MAX:
        _KIND_CACHE[name] = kind
    return kind


class _ChunkedHead(Exception):
    """Raised from on_headers_complete to stop llhttp at the end of a chunked head: the body is
    decoded by ChunkedDecoder, not by llhttp."""
_OWS: Final = (32, 9)
# Feeds arrive at most this big from the server core; the coarse head-size backstop allows for it.
FEED_SIZE: Final = 65536
# httptools tokenizes input in steps of this size so parsing can stop when max_pipelined requests wait.
FEED_SLICE: Final = 4096


class RequestParser:
    """The request side of one HTTP/1.1 connection."""

    __slots__ = (
        "limits", "queue", "closed", "spill_at", "_parser", "_url", "_headers", "_hosts", "_cl", "_te",
        "_expect", "_size", "in_head", "_head_bytes", "current", "_completed", "_queued",
        "_upgrade", "_max_count", "_max_size", "_max_target", "_backlog", "_eof", "_max_field",
        "_once", "_sniffing", "_prefix", "_tail", "_chunks", "_error", "_ndropped", "native",
    )

    _cl: Any  # None or a value: declared for mypyc
    _te: Any  # None or a value: declared for mypyc
    _expect: Any  # None or a value: declared for mypyc
    def __init__(self, limits: Limits = policy.DEFAULT_LIMITS, spill_at: int = 1 << 20, native: bool | None = None):
        """`native`: tokenize with the compiled build's binding (_tokenizer.c) or with httptools; None takes
        the binding when it is installed."""
        if native is None:
            native = NATIVE_TOKENIZER
        elif native and not NATIVE_TOKENIZER:
            raise RuntimeError("the native tokenizer is not installed (a pure-Python build)")
        self.native: bool = native  # public, read-only outside: which tokenizer this parser drives
        self.limits = limits
        self.spill_at = spill_at
        # Events in arrival order (Request | Rejection), oldest first.  A list, not a deque: it holds at
        # most max_pipelined + 1 items, and the compiled build has native list operations.
        self.queue: list[Any] = []
        self.closed = False    # no further bytes will be parsed
        self._reset_fields()
        self._parser: Any = self._tokenizer()
        self.current: Any = None  # public, read-only outside: the Request whose body is arriving
        self.in_head = False   # public, read-only outside: part of a head has arrived, not all of it
        self._head_bytes = 0
        self._queued = 0       # complete requests in queue, for max_pipelined
        self._completed = 0
        self._max_count = limits.max_header_count
        self._max_size = limits.max_header_size
        self._max_field = limits.max_field_size or limits.max_header_size
        self._max_target = limits.max_target_size
        self._backlog: Any = None   # input held back, unparsed, while max_pipelined requests wait
        self._eof = False
        self._once = 0         # bits of the singleton fields seen in this head
        self._sniffing = False  # _backlog holds a refused request line whose verdict needs more bytes
        self._prefix = b""     # the start of a request line cut inside its method by a feed boundary
        self._tail = b""       # the last bytes of a feed that ended inside a head
        self._chunks: Any = None  # the ChunkedDecoder of the body in flight, if it is chunked
        self._error: Any = None   # what a callback raised, for the HttpParserCallbackError it becomes

    def _tokenizer(self) -> Any:
        if self.native:
            lim = self.limits
            return _NativeTokenizer(self, lim.max_target_size, lim.max_header_count, lim.max_header_size,
                                    lim.max_field_size or lim.max_header_size)
        return httptools.HttpRequestParser(self)

    # -- input -------------------------------------------------------------------------------
    def feed(self, data: Any) -> None:
        if self.closed:
            return  # after an error or a final (non keep-alive) request, bytes are discarded
        if self._backlog is not None:
            self._backlog += data
            if self._sniffing:
                self._sniff()
            return
        limit = self.limits.max_pipelined
        if self.native:
            # One pass, always: the tokenizer pauses after the last head there is room for (_feed).
            room = limit - self._queued
            if room <= 0:
                if self.current is None:
                    self._backlog = bytearray(data)
                    return
                room = 0  # only the body in flight
            self._feed(data, room)
            return
        # One pass when the pipeline cannot overflow (a body that has arrived is parsed at once):
        # see few_heads.  The +1 is a head whose end straddles the previous feed.
        if len(data) <= FEED_SLICE or (type(data) is bytes and few_heads(data, limit - self._queued - 1)):
            self._feed(data)
            return
        view = memoryview(data)
        for start in range(0, len(data), FEED_SLICE):
            if self._backlog is not None:  # a nested feed (after an upgrade) held input back
                self._backlog += view[start:]
                return
            # Never hold back a body in flight: the app may be waiting on it (even with limit 1).
            if self._queued >= limit and self.current is None:
                self._backlog = bytearray(view[start:])
                return
            self._feed(view[start:start + FEED_SLICE])
            if self.closed:
                return

    @property
    def held_back(self) -> int:
        """Bytes received but not yet parsed because the pipeline is full."""
        return len(self._backlog) if self._backlog is not None else 0

    def _resume(self) -> None:
        backlog = self._backlog
        self._backlog = None
        self.feed(backlog if self.native else bytes(backlog))  # the binding reads any buffer
        if self._eof and self._backlog is None:
            self.feed_eof()

    def _feed(self, data: Any, room: int = -1) -> None:
        """`room`: heads the native tokenizer may complete before it pauses at a message's end (feed
        always passes it there; httptools takes none, so the pure build's calls leave the default)."""
        if self._chunks is not None:
            self._feed_chunked(data)
            return
        cur0 = self.current
        in_head0 = self.in_head
        received0 = cur0.body.received if cur0 is not None else 0
        self._completed = 0
        # The rest of the input after an upgrade or a chunked head is parsed after the `try`, not in
        # an `except` block: there, Python would chain a nested callback error to this one and hide
        # the Reject that httptools puts in its __context__.
        upgrade_at = body_at = -1
        state: Any = None  # the native tokenizer's state bits; httptools returns None
        try:
            state = self._parser.feed_data(data, room) if self.native else self._parser.feed_data(data)
        except HttpParserUpgrade as exc:
            # A bodiless request that asked to upgrade: we do not upgrade, so parse on as HTTP/1.1.
            upgrade_at = exc.args[0]
        except HttpParserCallbackError:
            # Our callbacks record what they raised: httptools' __context__ is overwritten by Python
            # when the caller feeds from inside an `except` block of its own.
            cause = self._error
            self._error = None
            if type(cause) is not _ChunkedHead:
                if not isinstance(cause, Reject):
                    raise
                self._fail(cause)
                return
            start = self._message_start(data, cur0, received0, in_head0, 1)
            if start is None:
                tail = self._tail
                end = (tail + bytes(data)).find(_CRLF2) + 4 - len(tail)
            else:
                end = bytes(data).find(_CRLF2, start) + 4
            body_at = end
        except HttpParserError as exc:
            if self.closed:
                return
            if self.native:  # httptools' on_message_begin keeps in_head; the binding does not call it
                self.in_head = self._parser.in_head
            if type(exc).__name__ != "HttpParserInvalidMethodError":
                self._fail(policy.reject_for_parser_error(exc))
                return
            start = self._message_start(data, cur0, received0, in_head0)
            if start is None:
                line = self._prefix + bytes(data)
            else:
                line = bytes(data[start:]) if start >= 0 else b""
            self._prefix = b""
            verdict = policy.method_verdict(line, start == -1)
            if verdict is None:
                self._backlog = bytearray(line)
                self._sniffing = True
            else:
                self._fail(verdict)
            return
        if body_at >= 0:
            self._parser = self._tokenizer()  # for the head after this body
            self._feed_chunked(data[body_at:])
            return
        if upgrade_at >= 0:
            rest = data[upgrade_at:]
            self._parser = self._tokenizer()
            if rest:
                self.feed(rest)
            return
        if state is not None:  # the native tokenizer tells Python of a head only when it is complete
            if state & 2:  # a message began in this feed
                self._head_bytes = 0
            self.in_head = (state & 1) != 0
            if state & 8:  # paused between two messages: the pipeline is full
                at = state >> 4
                if at < len(data) and not self.closed:
                    self._backlog = bytearray(memoryview(data)[at:])  # one copy
                return
        if self.in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_size + FEED_SIZE:
                self._fail(policy.fields_too_large())
                return
            # The last 3 bytes of the stream, to find a CRLFCRLF cut by the next feed boundary.
            self._tail = (self._tail + bytes(data[-3:]))[-3:]
            # The request line stops inside its method: keep that start.
            if not (self._url if state is None else state & 4):
                start = self._message_start(data, cur0, received0, in_head0)
                if start is None:
                    self._prefix += bytes(data)
                elif start >= 0:
                    self._prefix = bytes(data[start:])

    def _feed_chunked(self, data: Any) -> None:
        try:
            end = self._chunks.feed(bytes(data))
        except Reject as exc:
            self._fail(exc)
            return
        if end < 0:
            return
        self._chunks = None
        self.on_message_complete()
        rest = data[end:]
        if rest and not self.closed:
            self.feed(rest)

    def _message_start(self, data: Any, cur0: Any, received0: int, in_head0: bool, pending: int = 0) -> int | None:
        """Where, in `data`, the message that followed the `_completed` messages this feed ended
        begins: None when it began in an earlier feed, -1 when that cannot be told (a chunked body
        ended in this feed).  Only for the rare paths that must judge a request line on its bytes:
        llhttp reports no offsets, but a head ends at its first CRLFCRLF and a body is as long as
        its Content-Length, so the messages can be walked.  `pending`: requests at the end of the
        queue whose message has not ended (the chunked one whose head just arrived)."""
        data = bytes(data)
        n = len(data)
        done = self._completed
        pos = 0
        if cur0 is not None:  # the feed began in a body
            if cur0.chunked:
                return -1
            pos = cur0.content_length - received0
            done -= 1
        elif in_head0:
            if not done:
                return None
            tail = self._tail
            end = (tail + data).find(_CRLF2) + 4 - len(tail)
            req = self.queue[len(self.queue) - done - pending]
            if req.chunked:
                return -1
            pos = end + (req.content_length or 0)
            done -= 1
        while done > 0:
            while pos < n and data[pos] in (13, 10):
                pos += 1
            end = data.find(_CRLF2, pos) + 4
            req = self.queue[len(self.queue) - done - pending]
            if req.chunked:
                return -1
            pos = end + (req.content_length or 0)
            done -= 1
        while pos < n and data[pos] in (13, 10):
            pos += 1
        return pos

    def _sniff(self) -> None:
        verdict = policy.method_verdict(bytes(self._backlog), False)
        if verdict is not None:
            self._backlog = None
            self._sniffing = False
            self._fail(verdict)

    def feed_eof(self) -> None:
        """The peer closed its side: a request cut short is an error, not a request."""
        if self.closed:
            return
        if self._sniffing:  # the request line ends here, with no verdict yet: not a method at all
            line = bytes(self._backlog)
            self._backlog = None
            self._sniffing = False
            verdict = policy.method_verdict(line, True)
            assert verdict is not None  # final: always a verdict
            self._fail(verdict)
            return
        if self._backlog is not None:
            self._eof = True  # parse what is held back first
            return
        cur = self.current
        if cur is not None and not cur.body.complete:
            cur.body.error = policy.closed_mid_body()
        self.closed = True

    def request_done(self) -> None:
        """The caller finished with the oldest queued item."""
        item = self.queue.pop(0)
        if type(item) is Request:
            self._queued -= 1
            if item is self.current and item.has_body:
                item.body.discard = True
            # Resumed once half the queue is done, not at every request: each resume copies what is still
            # held back, so resuming per request would cost the square of a flood of tiny requests.
            if self._backlog is not None and self._queued <= self.limits.max_pipelined // 2 and not self._sniffing:
                self._resume()

    def release(self) -> None:
        """The connection is closed: free the bodies' buffers and files, and drop the tokenizer, which
        holds bound methods of this parser: a reference cycle per connection that the cyclic GC would
        otherwise have to find (a close-hello load made it collect the whole heap every second)."""
        for item in self.queue:
            if type(item) is Request:
                item.body.close()
        cur = self.current
        if cur is not None:
            cur.body.close()
        self.closed = True
        self._parser = None

    def _fail(self, reject: Reject) -> None:
        cur = self.current
        if cur is not None and not cur.body.complete:
            cur.body.error = reject
        self.queue.append(Rejection(reject.status, reject.reason))
        self.closed = True
        self.current = None
        self.in_head = False  # nothing more is parsed: no head is in progress

    # -- llhttp callbacks ----------------------------------------------------------------------
    def _reset_fields(self) -> None:
        """What the fields of one head leave behind for _head (on_field / on_header fill it in)."""
        self._hosts: list[bytes] = []
        self._cl = self._te = self._expect = None
        self._upgrade = False
        self._once = 0
        self._ndropped = 0     # repeated keep-first fields dropped (they still count towards the limit)

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._size = 0
        self.in_head = True
        self._head_bytes = 0
        self._reset_fields()

    def on_url(self, url: bytes) -> None:
        try:
            if self._url:
                url = self._url + url
            if len(url) > self._max_target:
                raise policy.target_too_long()
            self._url = url
        except Exception as exc:
            self._error = exc
            raise

    def on_header(self, name: bytes, value: bytes) -> None:
        try:
            if value and value[-1] in _OWS:
                value = value.rstrip(b" \t")  # the tokenizer strips leading OWS only
            headers = self._headers
            n = len(name)
            field = n + len(value)
            self._size += field + 4
            if len(headers) + self._ndropped >= self._max_count or self._size > self._max_size \
                    or field > self._max_field:
                raise policy.fields_too_large()
            # Trailers never come here: chunked bodies are decoded by ChunkedDecoder.
            if n in _KIND_LENGTHS:
                kind = _KIND_CACHE.get(name)
                if kind is None:
                    kind = _kind(name)
                if kind and not self._field(kind, value):
                    return
            headers.append((name, value))
        except Exception as exc:
            self._error = exc
            raise

    def _field(self, kind: int, value: bytes) -> bool:
        """Note a field of a kind the protocol layer looks at (policy.FIELD_KINDS); False: drop it (a
        repeated keep-first singleton).  Raises the Reject of a forbidden repeat."""
        if kind >= SINGLETON:
            bit = 1 << kind
            if self._once & bit:
                if bit & KEEP_FIRST_MASK:
                    self._ndropped += 1
                    return False
                raise policy.duplicate_field(kind)
            self._once |= bit
        elif kind == HOST_FIELD:
            self._hosts.append(value)
        elif kind == LENGTH_FIELD:
            self._cl = value
        elif kind == CODING_FIELD:
            if self._te is not None:
                raise policy.multiple_transfer_encoding()
            self._te = value
        elif kind == EXPECT_FIELD:
            self._expect = value if self._expect is None else self._expect + b", " + value
        else:
            self._upgrade = True
        return True

    def on_headers_complete(self) -> None:
        try:
            p = self._parser
            raw_method = p.get_method()
            method = _METHODS.get(raw_method)
            if method is None:
                method = raw_method.decode("ascii")
                if len(_METHODS) < 64:
                    _METHODS[raw_method] = method
            self._head(method, p.get_http_version(), p.should_keep_alive(), self._upgrade and p.should_upgrade())
        except Exception as exc:
            self._error = exc
            raise

    # -- the native tokenizer's callbacks (_tokenizer.c) ------------------------------------------
    def on_head(self, url: bytes, headers: list[tuple[bytes, bytes]], size: int, method: str, version: str,
                keep_alive: bool, upgrade: bool) -> None:
        """A whole head, from the native tokenizer: what on_url, on_header and on_headers_complete do for
        httptools, in one call.  The tokenizer has applied the size limits, and on_field has seen the fields
        the protocol layer looks at."""
        try:
            self._url = url
            self._headers = headers
            self._size = size
            self._head(method, version, keep_alive, self._upgrade and upgrade)
        except Exception as exc:
            self._error = exc
            raise
        finally:
            self._reset_fields()  # for the next head: the native tokenizer does not report where one begins

    def on_field(self, name: bytes, value: bytes) -> bool:
        """One of the fields in policy.FIELD_KINDS, from the native tokenizer as it completes."""
        try:
            kind = _KIND_CACHE.get(name)
            return self._field(_kind(name) if kind is None else kind, value)
        except Exception as exc:
            self._error = exc
            raise

    def on_limit(self, code: int) -> None:
        """The native tokenizer stopped a head at a size limit; feed_data raises next."""
        if code == _LIMIT_TARGET:
            self._error = policy.target_too_long()
        else:
            assert code == _LIMIT_FIELDS, code
            self._error = policy.fields_too_large()

    def _head(self, method: str, version: str, keep_alive: bool, upgrade: bool) -> None:
        """The head is complete: check it and queue its Request.  `upgrade`: it asked to upgrade."""
        self.in_head = False
        if version != "1.1" and version != "1.0":
            policy.check_version(version, bool(self._headers))
        target = self._url
        if target[:1] != b"/" or method == "CONNECT" or 35 in target:  # 35: "#", an int test is a cheap memchr
            policy.check_target(method, target)
        hosts = self._hosts
        if len(hosts) != 1 or hosts[0] not in _GOOD_HOSTS:
            policy.check_host(hosts, version)  # raises unless valid
            if len(hosts) == 1 and len(_GOOD_HOSTS) < _GOOD_HOSTS_MAX:
                _GOOD_HOSTS.add(hosts[0])
        req = Request()
        req.method = method
        req.target = target
        req.version = version
        req.headers = self._headers
        req.keep_alive = keep_alive
        req.chunked = False
        req.content_length = None
        req.expect_continue = False
        if self._te is not None:
            policy.check_transfer_encoding(self._te, version)
            req.chunked = True
            req.has_body = True
        elif self._cl is not None:
            n = policy.check_content_length(self._cl)
            if n > self.limits.max_body_size:
                raise policy.body_too_large()
            req.content_length = n
            req.has_body = n > 0
        else:
            req.has_body = False
        expect = self._expect
        if expect is not None and version == "1.1":
            if expect != b"100-continue":
                policy.check_expect(expect)
            req.expect_continue = req.has_body
        if upgrade and req.has_body:
            raise policy.upgrade_with_body()
        req.body = Body(self.spill_at) if req.has_body else EMPTY_BODY
        self._queued += 1
        self.current = req
        self.queue.append(req)
        if req.chunked:
            self._chunks = ChunkedDecoder(req.body, self.limits, len(self._headers) + self._ndropped, self._size)
            raise _ChunkedHead()

    def on_body(self, data: bytes) -> None:
        # Content-Length bodies only (chunked ones go through ChunkedDecoder); their size was checked
        # against the limit when the head arrived.
        self.current.body.append(data)

    def on_message_complete(self) -> None:
        cur = self.current
        if cur.has_body:
            cur.body.complete = True
        self.current = None
        self._completed += 1
        if not cur.keep_alive:
            self.closed = True
