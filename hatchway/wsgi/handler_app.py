"""An http.server-style handler class run per request: the exchange it sees, and its WSGI form.

A `hatchway.http.request_handler.RequestHandler` instance answers one request through an
`Exchange`: command, path and version, the request headers (an http.client.HTTPMessage, built on
first use), the body as `rfile`, the response body as `wfile` (`ResponseWriter`), and `start()`,
which `end_headers()` calls.  `run_handler` runs one handler over one exchange and turns what it
did into a PEP 3333 response iterable, so the engine frames it as it frames any application:

* `end_headers()` is start_response; `wfile.write()` is the PEP 3333 write(), so every write goes
  out at once (the handler's Content-Length, else chunked on HTTP/1.1, else close-delimited);
* with `wbufsize` N, a body that fits is returned whole and framed with a computed length;
* `close_connection` set after the head went out asks the engine to close after the response.

There are two ways in.  On hatchway's engine, `HandlerConnection` (handler_connection.py) builds
the exchange from the parser's Request: the headers as received, no environ.  Anywhere else (any
WSGI server, or hatchway with a layer that needs an environ: health checks, shedding, watchdog,
request ids), `HandlerApplication` is a WSGI application that builds the
exchange from the environ, where header names are title-cased CGI keys.
"""
from __future__ import annotations

import http.client
import io
from collections.abc import Callable, Iterable
from typing import Any

from ..http.request_handler import RequestHandler, make_headers
from .connection import CLOSE_AFTER_RESPONSE

_NO_BODY_CODES = (204, 304)


class HandlerError(Exception):
    """The handler broke the protocol of the handler API (no response, a promised body unsent)."""


def _header_name(key: str) -> str | None:
    if key.startswith("HTTP_"):
        return key[5:].replace("_", "-").title()
    if key == "CONTENT_TYPE":
        return "Content-Type"
    if key == "CONTENT_LENGTH":
        return "Content-Length"
    return None


_NAMES: dict[str, str | None] = {}


def headers_from_environ(environ: dict[str, Any]) -> http.client.HTTPMessage:
    """The request headers from a PEP 3333 environ (names title-cased; repeated fields combined by
    the gateway; names with `_` were dropped by it, as for every application)."""
    pairs = []
    names = _NAMES
    for key, value in environ.items():
        name = names.get(key)
        if name is None:
            if key in names:
                continue
            name = _header_name(key)
            if len(names) < 2048:
                names[key] = name
            if name is None:
                continue
        pairs.append((name, value))
    return make_headers(pairs)


class ResponseWriter:
    """`self.wfile`: the response body.  Usable after end_headers().  With `wbufsize` 0 each write
    is sent before it returns; with N > 0, writes collect up to N bytes (a body that fits is sent
    whole, with a Content-Length the server computes).  A plain class with the file methods a
    writer needs, registered as an io.BufferedIOBase: an io.BufferedIOBase instance costs about
    a microsecond to create and another to finalize, per request."""

    __slots__ = ("_ex", "_bufsize", "_buf", "sent")

    closed = False  # close() is a no-op: the body ends when the handler returns

    def __init__(self, exchange: Exchange, bufsize: int) -> None:
        self._ex = exchange
        self._bufsize = bufsize
        self._buf = bytearray()
        self.sent = 0

    def write(self, data: Any) -> int:
        write = self._ex.write
        if write is None:
            raise RuntimeError("wfile.write() before end_headers()")
        n = len(data) if type(data) is bytes else memoryview(data).nbytes
        if not n:
            return 0
        if self._bufsize:
            self._buf += data
            if len(self._buf) >= self._bufsize:
                self.flush()
            return n
        write(data)
        self.sent += n
        return n

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            write = self._ex.write
            assert write is not None  # a buffer only fills after end_headers()
            write(data)
            self.sent += len(data)

    def take_buffered(self) -> bytes | None:
        """The whole body when nothing was sent yet: the server can frame it with a length."""
        if self.sent or not self._buf:
            return None
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("wfile has no file descriptor: the engine owns the socket")

    def close(self) -> None:
        pass  # the body ends when the handler returns; closing early would only lose writes

    def __enter__(self) -> ResponseWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


io.BufferedIOBase.register(ResponseWriter)


class Exchange:
    """One request and its response, as a RequestHandler sees them.  `source` is what
    `make_headers(source)` turns into `headers` when the handler first reads them."""

    __slots__ = ("command", "path", "request_version", "_source", "_make", "_headers", "rfile", "wfile",
                 "write", "status", "response_headers", "_start_response")

    def __init__(self, command: str, path: str, request_version: str, source: Any,
                 make_headers: Callable[[Any], http.client.HTTPMessage], rfile: Any,
                 start_response: Callable[..., Any], wbufsize: int) -> None:
        self.command = command
        self.path = path
        self.request_version = request_version
        self._source = source
        self._make = make_headers
        self._headers: http.client.HTTPMessage | None = None
        self.rfile = rfile
        self.wfile = ResponseWriter(self, wbufsize)
        self.write: Callable[[bytes], Any] | None = None
        self.status: str | None = None
        self.response_headers: list[tuple[str, str]] | None = None
        self._start_response = start_response

    @classmethod
    def from_environ(cls, environ: dict[str, Any], start_response: Callable[..., Any],
                     wbufsize: int) -> Exchange:
        return cls(environ["REQUEST_METHOD"], environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"),
                   environ["SERVER_PROTOCOL"], environ, headers_from_environ, environ["wsgi.input"],
                   start_response, wbufsize)

    @property
    def headers(self) -> http.client.HTTPMessage:
        headers = self._headers
        if headers is None:
            headers = self._headers = self._make(self._source)
        return headers

    def start(self, status: str, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.response_headers = headers
        self.write = self._start_response(status, headers)


def run_handler(handler_class: type[RequestHandler], ex: Exchange, client_address: tuple[str, int],
                server: Any) -> Iterable[bytes]:
    """Run one handler instance over `ex`; the PEP 3333 response iterable of what it did."""
    handler = handler_class(ex, client_address, server)
    if ex.status is None:
        raise HandlerError(f"{handler_class.__name__} returned without a complete response head for "
                           f"{ex.command} (send_response ... end_headers)")
    # http.server handlers may set close_connection after end_headers() (often after the body).
    close = getattr(handler, "close_connection", False)
    wfile = ex.wfile
    if wfile._buf:  # wbufsize: what the handler wrote is still here
        whole = wfile.take_buffered()
        if whole is not None:
            if close:
                _ask_close(ex)
            return [whole]
        wfile.flush()
    if not wfile.sent and _promised_body(ex):
        # Nothing written though a Content-Length was promised: fail the request (500) rather
        # than leave the client waiting for bytes that never come.
        raise HandlerError(f"{handler_class.__name__} promised a body with Content-Length but wrote none "
                           f"for {ex.command} {ex.path}")
    if close:
        if wfile.sent:
            return CloseAfterResponse()  # the head is out: the engine closes after the response
        _ask_close(ex)
    return ()


class HandlerApplication:
    """A WSGI application that runs one `handler_class` instance per request."""

    def __init__(self, handler_class: type[RequestHandler], server: Any = None) -> None:
        check_handler_class(handler_class)
        self.handler_class = handler_class
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler_class = self.handler_class
        ex = Exchange.from_environ(environ, start_response, handler_class.wbufsize)
        port = environ.get("REMOTE_PORT", "")
        return run_handler(handler_class, ex, (environ.get("REMOTE_ADDR", ""), int(port) if port else 0),
                           self.server)

    def hatchway_connection_for(self, gateway: Any) -> type | None:
        """The connection class that runs this application without an environ, when the gateway
        serves it bare (hatchway.wsgi.serving asks); None when something needs the environ."""
        from .handler_connection import HandlerConnection

        return HandlerConnection if HandlerConnection.can_serve(gateway, self) else None


class CloseAfterResponse(tuple):
    """An empty response iterable asking the engine to close the connection once the response is
    complete (hatchway.wsgi.connection checks CLOSE_AFTER_RESPONSE on the iterable)."""


setattr(CloseAfterResponse, CLOSE_AFTER_RESPONSE, True)


def _ask_close(ex: Exchange) -> None:
    """The head has not gone out yet: it carries `Connection: close` (the engine honours it)."""
    headers = ex.response_headers
    assert headers is not None
    for name, value in headers:
        if name.lower() == "connection" and "close" in value.lower():
            return
    headers.append(("Connection", "close"))  # the very list the engine frames from


def _promised_body(ex: Exchange) -> bool:
    if ex.command == "HEAD":
        return False
    code = int((ex.status or "500")[:3])
    if code < 200 or code in _NO_BODY_CODES:
        return False
    for name, value in ex.response_headers or ():
        if name.lower() == "content-length":
            return value.strip() not in ("", "0")
    return False


def check_handler_class(handler_class: Any) -> None:
    if isinstance(handler_class, type) and issubclass(handler_class, RequestHandler):
        return
    import http.server

    if isinstance(handler_class, type) and issubclass(handler_class, http.server.BaseHTTPRequestHandler):
        raise TypeError(f"{handler_class.__name__} derives from http.server.BaseHTTPRequestHandler; derive it "
                        "from hatchway.http.server.BaseHTTPRequestHandler (hatchway.http.RequestHandler) instead")
    raise TypeError(f"expected a hatchway.http.RequestHandler subclass, got {handler_class!r}")
