"""hatchway.http: HTTP/1.1 as a sans-I/O state machine (no sockets in here).

* `protocol.RequestParser`: bytes in, `Request` / `ProtocolError` events out, pipelining queued.
* `response.frame`: the server's framing decision and the response head.
* `policy`: every accept/reject rule and limit.
"""
from .policy import Limits, Reject
from .protocol import Body, ProtocolError, Request, RequestParser
from .response import Framing, InvalidResponse, frame

__all__ = ["Limits", "Reject", "Body", "ProtocolError", "Request", "RequestParser", "Framing",
           "InvalidResponse", "frame"]
