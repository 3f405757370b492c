"""hatchway.http: HTTP/1.1 as a sans-I/O state machine (no sockets in here).

* `protocol.RequestParser`: bytes in, `Request` / `Rejection` events out, pipelining queued.
* `response.frame`: the server's framing decision and the response head.
* `policy`: every accept/reject rule and limit.
* `request_handler.RequestHandler`: http.server-style handlers (do_GET...); `HTTPServer` runs them on the
  engine and is imported lazily from hatchway.wsgi (see hatchway.http.server).
"""
from .policy import Limits, Reject
from .events import Rejection, Request
from .body import Body
from .protocol import RequestParser
from .response import Framing, InvalidResponse, frame

__all__ = ["Limits", "Reject", "Body", "Rejection", "Request", "RequestParser", "Framing",
           "InvalidResponse", "frame", "RequestHandler", "BaseHTTPRequestHandler", "HTTPServer",
           "ThreadingHTTPServer"]


def __getattr__(name: str) -> object:
    # HTTPServer needs the engine; import it only when asked for, so hatchway.http stays I/O-free.
    if name in ("HTTPServer", "ThreadingHTTPServer"):
        from . import server

        return getattr(server, name)
    # The handler API pulls in http.client, email and ssl (about 7 MiB of RSS): only when used.
    if name in ("RequestHandler", "BaseHTTPRequestHandler"):
        from . import request_handler

        return getattr(request_handler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
