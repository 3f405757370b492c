"""http.server-style handlers on the hatchway engine.

`HandlerApplication` turns a `hatchway.http.handler.RequestHandler` class into a WSGI application:
per request it builds the exchange the handler expects from the environ and the WSGI callables:

* `rfile` is wsgi.input: the body as framed by the parser, de-chunked, EOF at its end;
* `end_headers()` calls start_response; `wfile.write()` is the PEP 3333 write(), so every write goes
  out at once and the engine frames it (the handler's Content-Length, else chunked on HTTP/1.1,
  else close-delimited on HTTP/1.0);
* an unread body is the engine's business: drained (up to max_drain) to keep the connection, or
  the connection is closed.

`HTTPServer` serves such an application with hatchway.wsgi's WSGIServer, so handlers get keep-alive,
pipelining, strict parsing, limits and timeouts exactly as WSGI applications do.
"""
from __future__ import annotations

import io
import logging
import threading

from ..http.handler import RequestHandler, make_headers
from ..server.config import ServerConfig
from ..server.listeners import open_listeners
from .connection import CLOSE_AFTER_RESPONSE
from .serving import WSGIServer, _ssl_context

log = logging.getLogger("hatchway.error")

_NO_BODY_CODES = (204, 304)


class HandlerError(Exception):
    """The handler broke the protocol of the handler API (no response, a promised body unsent)."""


def _header_name(key: str):
    if key.startswith("HTTP_"):
        return key[5:].replace("_", "-").title()
    if key == "CONTENT_TYPE":
        return "Content-Type"
    if key == "CONTENT_LENGTH":
        return "Content-Length"
    return None


_NAMES: dict = {}


def headers_from_environ(environ):
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


class ResponseWriter(io.BufferedIOBase):
    """`self.wfile`: the response body.  Usable after end_headers().  With `wbufsize` 0 each write
    is sent before it returns; with N > 0, writes collect up to N bytes (a body that fits is sent
    whole, with a Content-Length the server computes)."""

    def __init__(self, exchange, bufsize: int):
        self._ex = exchange
        self._bufsize = bufsize
        self._buf = bytearray()
        self.sent = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        write = self._ex.write
        if write is None:
            raise RuntimeError("wfile.write() before end_headers()")
        n = memoryview(data).nbytes
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

    def flush(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._ex.write(data)
            self.sent += len(data)

    def take_buffered(self) -> bytes | None:
        """The whole body when nothing was sent yet: the server can frame it with a length."""
        if self.sent or not self._buf:
            return None
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def close(self) -> None:
        pass  # the body ends when the handler returns; closing early would only lose writes


class Exchange:
    """One request and its response, as a RequestHandler sees them."""

    __slots__ = ("command", "path", "request_version", "headers", "rfile", "wfile", "write", "status",
                 "response_headers", "_start_response")

    def __init__(self, environ, start_response, wbufsize: int):
        self.command = environ["REQUEST_METHOD"]
        self.path = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        self.request_version = environ["SERVER_PROTOCOL"]
        self.headers = headers_from_environ(environ)
        self.rfile = environ["wsgi.input"]
        self.wfile = ResponseWriter(self, wbufsize)
        self.write = None
        self.status = None
        self.response_headers = None
        self._start_response = start_response

    def start(self, status: str, headers) -> None:
        self.status = status
        self.response_headers = headers
        self.write = self._start_response(status, headers)


class HandlerApplication:
    """A WSGI application that runs one `handler_class` instance per request."""

    def __init__(self, handler_class, server=None):
        check_handler_class(handler_class)
        self.handler_class = handler_class
        self.server = server

    def __call__(self, environ, start_response):
        handler_class = self.handler_class
        ex = Exchange(environ, start_response, handler_class.wbufsize)
        addr = environ.get("REMOTE_ADDR", "")
        port = environ.get("REMOTE_PORT", "")
        handler = handler_class(ex, (addr, int(port) if port else 0), self.server)
        if ex.status is None:
            raise HandlerError(f"{handler_class.__name__} returned without a complete response head for "
                               f"{ex.command} (send_response ... end_headers)")
        # http.server handlers may set close_connection after end_headers() (often after the body).
        close = getattr(handler, "close_connection", False)
        wfile = ex.wfile
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


class CloseAfterResponse(tuple):
    """An empty response iterable asking the engine to close the connection once the response is
    complete (hatchway.wsgi.connection checks CLOSE_AFTER_RESPONSE on the iterable)."""


setattr(CloseAfterResponse, CLOSE_AFTER_RESPONSE, True)


def _ask_close(ex) -> None:
    """The head has not gone out yet: it carries `Connection: close` (the engine honours it)."""
    headers = ex.response_headers
    for name, value in headers:
        if name.lower() == "connection" and "close" in value.lower():
            return
    headers.append(("Connection", "close"))  # the very list the engine frames from


def _promised_body(ex) -> bool:
    if ex.command == "HEAD":
        return False
    code = int(ex.status[:3])
    if code < 200 or code in _NO_BODY_CODES:
        return False
    for name, value in ex.response_headers:
        if name.lower() == "content-length":
            return value.strip() not in ("", "0")
    return False


def check_handler_class(handler_class) -> None:
    if isinstance(handler_class, type) and issubclass(handler_class, RequestHandler):
        return
    import http.server

    if isinstance(handler_class, type) and issubclass(handler_class, http.server.BaseHTTPRequestHandler):
        raise TypeError(f"{handler_class.__name__} derives from http.server.BaseHTTPRequestHandler; derive it "
                        "from hatchway.http.server.BaseHTTPRequestHandler (hatchway.http.RequestHandler) instead")
    raise TypeError(f"expected a hatchway.http.RequestHandler subclass, got {handler_class!r}")


def _bind_spec(server_address):
    if isinstance(server_address, (str, bytes)) or hasattr(server_address, "__fspath__"):
        import os

        return ("unix", os.fsdecode(server_address))
    host, port = server_address[:2]
    return ("tcp", (host or "0.0.0.0", int(port)))


class HTTPServer(WSGIServer):
    """http.server.HTTPServer's shape on the hatchway engine.

    `server_address` is (host, port) ("::" for IPv6, port 0 for any free port) or a Unix socket
    path.  `threads` handler threads (0 runs handlers on the event loop itself); other keyword
    arguments are ServerConfig fields (timeouts, limits...).
    """

    def __init__(self, server_address, RequestHandlerClass, bind_and_activate: bool = True, *,
                 threads: int = 8, ssl_context=None, config: ServerConfig | None = None, **options):
        check_handler_class(RequestHandlerClass)
        self.RequestHandlerClass = RequestHandlerClass
        self._requested_address = server_address
        self._config = (config or ServerConfig()).updated(threads=threads, **options)
        self._ssl = _ssl_context(ssl_context)
        self._bound = False
        self._serve_lock = threading.Lock()
        self._in_serve = False
        self._stop_asked = False
        self._served = threading.Event()
        self._served.set()
        if bind_and_activate:
            self.server_bind()
            self.server_activate()

    @classmethod
    def from_listeners(cls, listeners, RequestHandlerClass, config: ServerConfig):
        """Serve already-open listeners (the CLI's path)."""
        srv = cls.__new__(cls)
        cls.__init__(srv, None, RequestHandlerClass, False, threads=config.threads, config=config)
        srv._attach(listeners)
        return srv

    def server_bind(self) -> None:
        cfg = self._config
        self._attach(open_listeners([_bind_spec(self._requested_address)], cfg.backlog, self._ssl))

    def server_activate(self) -> None:
        pass  # the listener already listens

    def _attach(self, listeners) -> None:
        WSGIServer.__init__(self, listeners, HandlerApplication(self.RequestHandlerClass, self), self._config)
        self._bound = True
        address = self.server_address
        if isinstance(address, tuple):
            self.server_name, self.server_port = address[0], address[1]
        else:
            self.server_name, self.server_port = address, 0

    @property
    def server_address(self):
        return self.listeners[0].address if self._bound else self._requested_address

    @property
    def socket(self):
        return self.listeners[0].sock

    def fileno(self) -> int:
        return self.socket.fileno()

    # The engine's loop forgets a stop request made before it starts; these two make shutdown()
    # reliable from the moment serve_forever() is called in another thread.
    def serve_forever(self, poll_interval: float = 0.25) -> None:
        with self._serve_lock:
            if self._stop_asked:
                self._stop_asked = False
                return
            self._in_serve = True
            self._served.clear()
        try:
            self.worker.serve_forever(poll_interval)
        finally:
            with self._serve_lock:
                self._in_serve = False
                self._stop_asked = False
                self._served.set()

    def shutdown(self) -> None:
        with self._serve_lock:
            if not self._in_serve:
                self._stop_asked = True  # a serve_forever() about to start returns at once
                return
        if self.worker.in_loop_thread():
            self.worker.request_stop()
            return
        # Not worker.shutdown(): it can wait forever on a request the starting loop has wiped.
        self.worker.request_stop()
        while not self._served.wait(0.05):
            self.worker.request_stop()

    def server_close(self) -> None:
        if self._in_serve and not self.worker.in_loop_thread():
            self.shutdown()  # closing sockets under a running loop would leave it spinning on nothing
        if self._bound:
            WSGIServer.server_close(self)


ThreadingHTTPServer = HTTPServer
