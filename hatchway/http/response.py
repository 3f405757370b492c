"""Response framing: the server decides how a response is delimited, never the application.

`frame()` turns a status and header list into the bytes of the response head and a framing
decision.  It does no I/O.  Rules (RFC 9112 6, 9110 6.4.1):

* no body for HEAD, 1xx, 204 and 304 (Content-Length is kept for HEAD and 304, dropped for 204);
* the application's Content-Length when it gives one, or one the caller computed;
* otherwise chunked on HTTP/1.1, or close-delimited on HTTP/1.0;
* hop-by-hop headers from the application are dropped: framing is ours; `Connection: close` from
  the application is honoured as a wish to close;
* a status or header that would break the head (CR, LF, NUL, a non-token name, non-latin-1)
  raises `InvalidResponse` instead of reaching the wire.
"""
from __future__ import annotations

from typing import Any, Final

from time import time as _time

from .dates import http_date
# Imported here, not on first use: under fd exhaustion an import (which opens files) fails and no
# error response could be built (issue 8).
from .status import reason as phrase

# Framing modes.
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2
CLOSE: Final = 3

_HOP_BY_HOP: Final = frozenset(("connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                          "proxy-connection"))
_TOKEN_CHARS: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_good_names: set[str] = set()


class InvalidResponse(Exception):
    """The application's status or headers cannot be framed safely."""


class Framing:
    """What `frame()` decided.  `length` is the exact body size in LENGTH mode."""

    __slots__ = ("head", "mode", "length", "keep_alive", "code")

    def __init__(self, head: bytes, mode: int, length: Any, keep_alive: bool, code: int) -> None:
        self.head = head
        self.mode = mode
        self.length = length
        self.keep_alive = keep_alive
        self.code = code


def _check_name(name: Any) -> None:
    if type(name) is not str or not name or not all(c in _TOKEN_CHARS for c in name):
        raise InvalidResponse(f"invalid header name {name!r}")
    if len(_good_names) < 512:
        _good_names.add(name)


class _Block:
    """The validated, encoded part of a head that depends only on the app's status and headers."""

    __slots__ = ("prefix", "code", "length", "app_close", "has_date", "has_server")
    prefix: bytes
    code: int
    length: int | None
    app_close: bool
    has_date: bool
    has_server: bool


_blocks: Final[dict[Any, _Block]] = {}
_BLOCKS_MAX: Final = 512


def _analyze(status: Any, headers: Any) -> _Block:
    if type(status) is not str or len(status) < 3 or not status[:3].isdigit() or status[3:4] not in ("", " "):
        raise InvalidResponse(f"invalid status {status!r}")
    code = int(status[:3])
    if code < 100:
        raise InvalidResponse(f"invalid status {status!r}")
    parts = ["HTTP/1.1 ", status, "\r\n"]
    lines = 1
    length = None
    has_date = has_server = app_close = False
    good = _good_names
    try:
        for name, value in headers:
            if name not in good:
                _check_name(name)
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                if lname == "connection" and "close" in value.lower():
                    app_close = True
                continue
            if lname == "content-length":
                v = value.strip()
                if not v.isdigit() or length is not None:
                    raise InvalidResponse(f"invalid Content-Length {value!r}")
                length = int(v)
                if code == 204:
                    continue  # RFC 9110 8.6: never on a 204
            elif lname == "date":
                has_date = True
            elif lname == "server":
                has_server = True
            parts.append(name)
            parts.append(": ")
            parts.append(value)
            parts.append("\r\n")
            lines += 1
    except InvalidResponse:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        raise InvalidResponse(f"headers must be a list of (str, str) tuples: {exc}") from None
    try:
        head = "".join(parts)
    except TypeError:
        raise InvalidResponse("header names and values must be str") from None
    # One scan each finds a CR, LF or NUL smuggled inside any value or the status: every
    # legitimate line ends in exactly one CRLF.
    if head.count("\n") != lines or head.count("\r") != lines or "\0" in head:
        raise InvalidResponse("CR, LF or NUL in the status or a header value")
    try:
        prefix = head.encode("latin-1")
    except UnicodeEncodeError:
        raise InvalidResponse("header value not encodable as latin-1") from None
    block = _Block()
    block.prefix = prefix
    block.code = code
    block.length = length
    block.app_close = app_close
    block.has_date = has_date
    block.has_server = has_server
    return block


class _Tail:
    """The Date/Server tail of the current second: an object's fields, not module globals, so the
    compiled build reads them as struct fields (a global is a dict lookup there)."""

    __slots__ = ("second", "server", "value")

    def __init__(self) -> None:
        self.second = -1
        self.server: Any = None
        self.value = b""


_TAIL: Final = _Tail()


def _date_server_tail(server: bytes) -> bytes:
    """b"Date: ...\r\nServer: ...\r\n\r\n", rebuilt once a second (one time() call per response)."""
    t = _TAIL
    now = int(_time())
    if now != t.second or server is not t.server:
        date = http_date()
        # value first: a thread that sees the new second also sees its value (the GIL orders the stores)
        t.value = b"Date: " + date + b"\r\n" + (b"Server: " + server + b"\r\n" if server else b"") + b"\r\n"
        t.second = now
        t.server = server
    return t.value


def frame(status: Any, headers: Any, method: str, version: str, keep_alive: bool, known_length: Any = None,
          server: bytes = b"hatchway") -> Framing:
    block: _Block | None
    try:
        key: Any = (status, tuple(headers))
        block = _blocks.get(key)
    except TypeError:  # unhashable pieces: validate without caching
        key = block = None
    if block is None:
        block = _analyze(status, headers)
        if key is not None:
            if len(_blocks) >= _BLOCKS_MAX:
                _blocks.clear()
            _blocks[key] = block
    code = block.code
    length = block.length
    if block.app_close:
        keep_alive = False
    extra = b""
    if method == "HEAD" or code < 200 or code == 204 or code == 304:
        mode = NO_BODY
        if method == "HEAD" and length is None and known_length is not None and code != 204:
            extra = b"Content-Length: %d\r\n" % known_length
        if code < 200:
            keep_alive = False  # an interim status as a final answer leaves the client unsure; close
    elif length is not None:
        mode = LENGTH
    elif known_length is not None:
        mode = LENGTH
        length = known_length
        extra = b"Content-Length: %d\r\n" % length
    elif version == "1.1":
        mode = CHUNKED
        extra = b"Transfer-Encoding: chunked\r\n"
    else:
        mode = CLOSE
        keep_alive = False
    if not keep_alive:
        extra += b"Connection: close\r\n"
    elif version == "1.0":
        extra += b"Connection: keep-alive\r\n"
    if block.has_date or block.has_server:
        if not block.has_date:
            extra += b"Date: " + http_date() + b"\r\n"
        if not block.has_server and server:
            extra += b"Server: " + server + b"\r\n"
        tail = b"\r\n"
    else:
        # The Date/Server tail changes once a second: the check is inlined (this is once per response).
        t = _TAIL
        tail = t.value if server is t.server and int(_time()) == t.second else _date_server_tail(server)
    return Framing(block.prefix + extra + tail if extra else block.prefix + tail, mode, length, keep_alive, code)


def error_response(code: int, reason: str = "", server: bytes = b"hatchway", head_only: bool = False) -> bytes:
    """A complete, self-contained response the server itself sends (protocol errors, app failures),
    always with Connection: close.  `server` is the Server header's value (b"" for none), as on the
    application's responses; `head_only` answers a HEAD: the same head, no body (RFC 9110 9.3.2).
    `reason` is for the log line and the access log, never for the client."""
    body = b"%d %s\n" % (code, phrase(code).encode("ascii"))
    head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n" \
        b"Connection: close\r\nDate: %s\r\n" % (code, phrase(code).encode("ascii"), len(body), http_date())
    if server:
        head += b"Server: " + server + b"\r\n"
    return head + b"\r\n" if head_only else head + b"\r\n" + body


CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
