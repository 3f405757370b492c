"""http.server-style request handlers (do_GET...), without the I/O.

    class API(RequestHandler):
        def do_GET(self):
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

One instance handles one request (not one connection, as in http.server).  It never sees a socket:
it is constructed with an *exchange*, which the server supplies and which carries the parsed request
(`command`, `path`, `request_version`, `headers`), the body as `rfile` (framed and de-chunked by the
parser; EOF at the end of the body), the response body as `wfile`, and `start(status, headers)`,
which `end_headers()` calls with the head it collected (`Exchange` below is that interface).
`self.headers` is read from the exchange on first use: most handlers never look at it, and an
http.client.HTTPMessage costs about a microsecond per field to build.  Framing (Content-Length, chunked, close) is
the server's decision: see hatchway.http.response.  `hatchway.http.server.HTTPServer` runs handlers
on the hatchway engine.
"""
from __future__ import annotations

import email.utils
import html
import http.client
import logging
import sys
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, Protocol

access_log = logging.getLogger("hatchway.access")

# http.server's error page, so ported handlers render the same errors.
DEFAULT_ERROR_MESSAGE = """\
<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
"""
DEFAULT_ERROR_CONTENT_TYPE = "text/html;charset=utf-8"

# C0 controls and DEL in a log line become \\xNN: a client cannot forge log lines.
_LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}
_SERVER_NAME_LENGTHS = (len("connection"), len("transfer-encoding"))
_MONTHS = (None, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def make_headers(pairs: Iterable[tuple[str, str]]) -> http.client.HTTPMessage:
    """`self.headers`: http.client.HTTPMessage, as in http.server (case-insensitive `get`,
    `get_all`, `get_content_type`, `in`...).  `pairs` are (str, str), in order."""
    msg = http.client.HTTPMessage()
    for name, value in pairs:
        msg[name] = value
    return msg


def headers_from_fields(fields: Iterable[tuple[bytes, bytes]]) -> http.client.HTTPMessage:
    """The HTTPMessage of a parsed request head: the parser's (name, value) byte pairs as they
    arrived, so names keep their case and any `_`, and repeated fields stay separate (`get_all`).
    Latin-1, as http.client decodes a head."""
    msg = http.client.HTTPMessage()
    for name, value in fields:
        msg[name.decode("latin-1")] = value.decode("latin-1")
    return msg


class Exchange(Protocol):
    """What a server hands a RequestHandler for one request (see the module docstring)."""

    command: str
    path: str
    request_version: str

    @property
    def headers(self) -> http.client.HTTPMessage: ...

    @property
    def rfile(self) -> Any: ...

    @property
    def wfile(self) -> Any: ...

    def start(self, status: str, headers: list[tuple[str, str]]) -> None: ...


def _reason_is_safe(text: str) -> bool:
    return all(" " <= c <= "~" or c == "\t" for c in text)


class RequestHandler:
    """Base class for HTTP handlers: define `do_GET`, `do_POST`, ... methods."""

    server_version: str | None = None  # e.g. "MyAPI/1.0"; None leaves the Server header to the server
    sys_version = "Python/" + sys.version.split()[0]
    protocol_version = "HTTP/1.1"  # informational: the engine always answers HTTP/1.1
    error_message_format = DEFAULT_ERROR_MESSAGE
    error_content_type = DEFAULT_ERROR_CONTENT_TYPE
    responses: dict[int, tuple[str, str]] = {v: (v.phrase, v.description) for v in HTTPStatus.__members__.values()}
    wbufsize = 0                   # 0: each wfile.write() goes out at once; N: buffer up to N bytes
    _headers: http.client.HTTPMessage | None = None

    def __init__(self, request: Exchange, client_address: tuple[str, int], server: Any) -> None:
        self.request = request     # the exchange (not a socket)
        self.client_address = client_address
        self.server = server
        self.setup()
        try:
            self.handle()
        finally:
            self.finish()

    # -- the request ---------------------------------------------------------------------------------
    def setup(self) -> None:
        ex = self.request
        self.command = ex.command
        self.path = ex.path
        self.request_version = ex.request_version
        self.requestline = f"{ex.command} {ex.path} {ex.request_version}"
        self.rfile = ex.rfile
        self.wfile = ex.wfile
        self.close_connection = False
        self._status: str | None = None
        self._head: list[tuple[str, str]] = []
        self._head_done = False
        self._extra_headers: list[tuple[str, str]] = []

    @property
    def headers(self) -> http.client.HTTPMessage:
        """The request headers (http.client.HTTPMessage), built on first use."""
        headers = self._headers
        if headers is None:
            headers = self._headers = self.request.headers
        return headers

    @headers.setter
    def headers(self, value: http.client.HTTPMessage) -> None:
        self._headers = value

    def handle(self) -> None:
        self.handle_one_request()

    def handle_one_request(self) -> None:
        method: Any = getattr(self, "do_" + self.command, None)
        if method is None:
            self._not_implemented()
            return
        method()

    def finish(self) -> None:
        pass

    def allowed_methods(self) -> list[str]:
        """The methods this class implements (its `do_X` methods), for the Allow header."""
        names = {name[3:] for name in dir(type(self)) if name.startswith("do_") and len(name) > 3}
        return sorted(n for n in names if callable(getattr(type(self), "do_" + n, None)))

    def _not_implemented(self) -> None:
        self._extra_headers.append(("Allow", ", ".join(self.allowed_methods())))
        self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")

    # -- the response head -----------------------------------------------------------------------------
    def send_response(self, code: int, message: str | None = None) -> None:
        """Start the response: log the request and record the status line."""
        self.log_request(code)
        self.send_response_only(code, message)
        if self.server_version:
            self.send_header("Server", self.version_string())

    def send_response_only(self, code: int, message: str | None = None) -> None:
        if self._head_done:
            raise RuntimeError("send_response() after end_headers(): the response head is complete")
        code = int(code)
        if message is None:
            message = self.responses[code][0] if code in self.responses else ""
        self._status = f"{code} {message}" if message else str(code)
        extra = self._extra_headers
        self._head = list(extra) if extra else []

    def send_header(self, keyword: str, value: object) -> None:
        if self._status is None:
            raise RuntimeError("send_header() before send_response()")
        if self._head_done:
            raise RuntimeError("send_header() after end_headers(): the response head is complete")
        text = value if type(value) is str else str(value)
        # Only two names are the server's; their lengths spare the lower() of every other header.
        if len(keyword) not in _SERVER_NAME_LENGTHS:
            self._head.append((keyword, text))
            return
        lower = keyword.lower()
        if lower == "connection":
            # The server owns the connection; a handler may only ask for it to be closed.
            token = text.strip().lower()
            if token == "close":
                self.close_connection = True
            elif token == "keep-alive":
                self.close_connection = False
            return
        if lower == "transfer-encoding":
            raise ValueError("hatchway frames responses itself: do not send Transfer-Encoding; omit "
                             "Content-Length and write the plain body to get chunked framing")
        self._head.append((keyword, text))

    def end_headers(self) -> None:
        """The head is complete; it goes out with the first body bytes (or at the end)."""
        if self._status is None:
            raise RuntimeError("end_headers() before send_response()")
        if self._head_done:
            raise RuntimeError("end_headers() called twice")
        if self.close_connection:
            self._head.append(("Connection", "close"))
        self._head_done = True
        self.request.start(self._status, self._head)

    def flush_headers(self) -> None:
        """Kept for http.server compatibility.  The head is sent with the first body bytes."""

    @property
    def headers_sent(self) -> bool:
        return self._head_done

    # -- errors ---------------------------------------------------------------------------------------
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A complete error response: status, and an HTML page (message and explanation
        HTML-escaped) unless the status or method forbids a body."""
        code = int(code)
        short, long = self.responses.get(code, ("???", "???"))
        if message is None:
            message = short
        if explain is None:
            explain = long
        self.log_error("code %d, message %s", code, message)
        # The reason phrase carries the message only when it is safe in a status line.
        self.send_response(code, message if _reason_is_safe(message) else short)
        body = None
        if code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.RESET_CONTENT, HTTPStatus.NOT_MODIFIED):
            content = self.error_message_format % {
                "code": code,
                "message": html.escape(message, quote=False),
                "explain": html.escape(explain, quote=False),
            }
            body = content.encode("utf-8", "replace")
            self.send_header("Content-Type", self.error_content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    # -- logging --------------------------------------------------------------------------------------
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, HTTPStatus):
            code = code.value
        self.log_message('"%s" %s %s', self.requestline, str(code), str(size))

    def log_error(self, format: str, *args: Any) -> None:
        self.log_message(format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        """Logged at INFO on the `hatchway.access` logger (http.server writes to stderr)."""
        if access_log.isEnabledFor(logging.INFO):
            message = (format % args).translate(_LOG_ESCAPES)
            access_log.info("%s - - [%s] %s", self.address_string(), self.log_date_time_string(), message)

    def version_string(self) -> str:
        return f"{self.server_version} {self.sys_version}" if self.server_version else self.sys_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is None:
            timestamp = time.time()
        return email.utils.formatdate(timestamp, usegmt=True)

    def log_date_time_string(self) -> str:
        year, month, day, hh, mm, ss, *_ = time.localtime()
        return f"{day:02d}/{_MONTHS[month]:>3s}/{year:04d} {hh:02d}:{mm:02d}:{ss:02d}"

    def address_string(self) -> str:
        return self.client_address[0] if self.client_address else ""


BaseHTTPRequestHandler = RequestHandler
