"""HTTP/1.1 request parsing as a sans-I/O state machine: bytes in, requests out, no sockets.

`RequestParser.feed(data)` tokenizes with llhttp and appends to `queue`, in arrival order:

* a `Request` when a head is complete (its `body` then fills as body bytes arrive, and
  `body.complete` turns true at the end of the message), or
* a `Rejection` when the bytes break a rule of `policy`; nothing after it is parsed
  (both events are defined in `events.py`).

Pipelined requests queue up behind the one in flight: the caller answers each, strictly in
order.  None is ever dropped: once `Limits.max_pipelined` requests are queued, further input is
kept unparsed (in `FEED_SLICE` steps) and parsed as the caller takes requests off the queue, so a
flood of tiny pipelined requests costs bytes, not request objects.
"""
from __future__ import annotations

from typing import Any, Final

import tempfile
from collections import deque

import httptools
from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade

from . import policy
from .events import Rejection, Request
from .chunked import ChunkedDecoder
from .policy import (
    CODING_FIELD, EXPECT_FIELD, HOST_FIELD, KEEP_FIRST_MASK, LENGTH_FIELD, SINGLETON, Limits, Reject,
)

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


class _ChunkedHead(Exception):
    """Raised from on_headers_complete to stop llhttp at the end of a chunked head: the body is
    decoded by ChunkedDecoder, not by llhttp."""
_OWS: Final = (32, 9)
# Feeds arrive at most this big from the server core; the coarse head-size backstop allows for it.
FEED_SIZE: Final = 65536
# Input is tokenized in steps of this size so parsing can stop when max_pipelined requests wait.
FEED_SLICE: Final = 4096


class Body:
    """The body of one request as it arrives.  Chunks queue in memory; past `spill_at` unread bytes
    they move to an anonymous temporary file, so buffering a large upload costs no memory."""

    __slots__ = ("chunks", "buffered", "received", "complete", "error", "discard", "file", "spill_at", "_file_pos")

    error: Any  # None or a value: declared for mypyc
    def __init__(self, spill_at: int):
        self.chunks: Any = deque()
        self.buffered = 0      # bytes held in chunks or file, not yet consumed
        self.received = 0      # bytes seen in total
        self.complete = False  # end of message reached
        self.error = None      # a Reject when the body turned out malformed or too big
        self.discard = False   # the reader is gone: count bytes, keep none
        self.file: Any = None
        self.spill_at = spill_at
        self._file_pos = 0

    def append(self, data: bytes) -> None:
        n = len(data)
        self.received += n
        if self.discard:
            return
        self.buffered += n
        if self.file is not None:
            self.file.seek(0, 2)
            self.file.write(data)
        elif self.buffered > self.spill_at:
            f = tempfile.TemporaryFile()
            for c in self.chunks:
                f.write(c)
            f.write(data)
            self.chunks.clear()
            self.file = f
            self._file_pos = 0
        else:
            self.chunks.append(data)

    def take(self, limit: int = -1) -> bytes:
        """Up to `limit` buffered bytes (all when negative); b"" when nothing is buffered."""
        if not self.buffered:
            return b""
        if self.file is not None:
            f = self.file
            f.seek(self._file_pos)
            data: bytes = f.read(limit if limit >= 0 else self.buffered)
            self._file_pos += len(data)
            self.buffered -= len(data)
            if not self.buffered:
                f.seek(0)
                f.truncate()
                self._file_pos = 0
            return data
        chunks = self.chunks
        if limit < 0 or limit >= self.buffered:
            data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self.buffered = 0
            return data
        first = chunks[0]
        if len(first) > limit:
            chunks[0] = first[limit:]
            self.buffered -= limit
            return bytes(first[:limit])
        out = []
        need = limit
        while need and chunks:
            c = chunks.popleft()
            if len(c) > need:
                chunks.appendleft(c[need:])
                c = c[:need]
            out.append(c)
            need -= len(c)
        data = b"".join(out)
        self.buffered -= len(data)
        return data

    def peek_line(self, limit: int) -> int:
        """Index just past the first b"\\n" within the first `limit` buffered bytes, or -1."""
        if self.file is not None:
            # Scan in blocks from the read position: reading line by line stays linear.
            f = self.file
            f.seek(self._file_pos)
            todo = self.buffered if limit < 0 else min(limit, self.buffered)
            scanned = 0
            while scanned < todo:
                block: bytes = f.read(min(8192, todo - scanned))
                if not block:
                    break
                i = block.find(b"\n")
                if i >= 0:
                    return scanned + i + 1
                scanned += len(block)
            return -1
        seen = 0
        for c in self.chunks:
            i = c.find(b"\n")
            if i >= 0:
                pos = seen + i + 1
                return pos if limit < 0 or pos <= limit else -1
            seen += len(c)
            if 0 <= limit <= seen:
                return -1
        return -1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.chunks.clear()
        self.buffered = 0


class _EmptyBody(Body):
    """The body of every request that has none: shared, complete, always empty."""

    def append(self, data: bytes) -> None:
        raise AssertionError("a bodiless request received body bytes")


EMPTY_BODY: Final = _EmptyBody(0)
EMPTY_BODY.complete = True


class RequestParser:
    """The request side of one HTTP/1.1 connection."""

    __slots__ = (
        "limits", "queue", "closed", "spill_at", "_parser", "_url", "_headers", "_hosts", "_cl", "_te",
        "_expect", "_size", "in_head", "_head_bytes", "current", "_completed", "_queued",
        "_upgrade", "_max_count", "_max_size", "_max_target", "_backlog", "_eof", "_max_field",
        "_once", "_sniffing", "_prefix", "_tail", "_chunks", "_error",
    )

    _cl: Any  # None or a value: declared for mypyc
    _te: Any  # None or a value: declared for mypyc
    _expect: Any  # None or a value: declared for mypyc
    def __init__(self, limits: Limits = policy.DEFAULT_LIMITS, spill_at: int = 1 << 20):
        self.limits = limits
        self.spill_at = spill_at
        # Events in arrival order (Request | Rejection), oldest first.  A list, not a deque: it holds at
        # most max_pipelined + 1 items, and the compiled build has native list operations.
        self.queue: list[Any] = []
        self.closed = False    # no further bytes will be parsed
        self._parser = httptools.HttpRequestParser(self)
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
        # One pass when the pipeline cannot overflow: every request in `data` ends a head with
        # CRLFCRLF, so counting them (a C scan) bounds what this feed can queue; the +1 is a head
        # whose CRLFCRLF straddles the previous feed.  A body that has arrived is parsed at once.
        if len(data) <= FEED_SLICE or (
                type(data) is bytes and self._queued + data.count(b"\r\n\r\n") + 1 < limit):
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
        self.feed(bytes(backlog))
        if self._eof and self._backlog is None:
            self.feed_eof()

    def _feed(self, data: Any) -> None:
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
        try:
            self._parser.feed_data(data)
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
            self._parser = httptools.HttpRequestParser(self)  # for the head after this body
            self._feed_chunked(data[body_at:])
            return
        if upgrade_at >= 0:
            rest = data[upgrade_at:]
            self._parser = httptools.HttpRequestParser(self)
            if rest:
                self.feed(rest)
            return
        if self.in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_size + FEED_SIZE:
                self._fail(policy.fields_too_large())
                return
            # The last 3 bytes of the stream, to find a CRLFCRLF cut by the next feed boundary.
            self._tail = (self._tail + bytes(data[-3:]))[-3:]
            if not self._url:  # the request line stops inside its method: keep that start
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
            self._backlog = None
            self._sniffing = False
            verdict = policy.method_verdict(bytes(self._backlog), True)
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
            if self._backlog is not None and self._queued < self.limits.max_pipelined and not self._sniffing:
                self._resume()

    def _fail(self, reject: Reject) -> None:
        cur = self.current
        if cur is not None and not cur.body.complete:
            cur.body.error = reject
        self.queue.append(Rejection(reject.status, reject.reason))
        self.closed = True
        self.current = None

    # -- llhttp callbacks ----------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._hosts: list[bytes] = []
        self._cl = self._te = self._expect = None
        self._size = 0
        self.in_head = True
        self._head_bytes = 0
        self._upgrade = False
        self._once = 0

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
            if len(headers) >= self._max_count or self._size > self._max_size or field > self._max_field:
                raise policy.fields_too_large()
            # Trailers never come here: chunked bodies are decoded by ChunkedDecoder.
            if n in _KIND_LENGTHS:
                kind = _KIND_CACHE.get(name)
                if kind is None:
                    kind = policy.field_kind(name.lower())
                    if len(_KIND_CACHE) < _KIND_CACHE_MAX:
                        _KIND_CACHE[name] = kind
            else:
                kind = 0
            if kind:
                if kind >= SINGLETON:
                    bit = 1 << kind
                    if self._once & bit:
                        if bit & KEEP_FIRST_MASK:
                            return
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
            headers.append((name, value))
        except Exception as exc:
            self._error = exc
            raise

    def on_headers_complete(self) -> None:
        try:
            p = self._parser
            self.in_head = False
            version = p.get_http_version()
            if version != "1.1" and version != "1.0":
                policy.check_version(version, bool(self._headers))
            raw_method = p.get_method()
            method = _METHODS.get(raw_method)
            if method is None:
                method = raw_method.decode("ascii")
                if len(_METHODS) < 64:
                    _METHODS[raw_method] = method
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
            req.keep_alive = p.should_keep_alive()
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
            if self._upgrade and p.should_upgrade() and req.has_body:
                raise policy.upgrade_with_body()
            req.body = Body(self.spill_at) if req.has_body else EMPTY_BODY
            self._queued += 1
            self.current = req
            self.queue.append(req)
            if req.chunked:
                self._chunks = ChunkedDecoder(req.body, self.limits, len(self._headers), self._size)
                raise _ChunkedHead()
        except Exception as exc:
            self._error = exc
            raise

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
