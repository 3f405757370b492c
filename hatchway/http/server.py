"""`hatchway.http.server`: the http.server names, so porting is a changed import.

    from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer

`RequestHandler` (alias `BaseHTTPRequestHandler`) is sans-I/O and lives in hatchway.http.handler.
`HTTPServer` (alias `ThreadingHTTPServer`) runs handlers on the hatchway engine; it lives in
hatchway.wsgi.handler_adapter and is imported from there on first use.  This is the one place in
hatchway.http that reaches down to the engine, and it does so lazily, so importing hatchway.http
never imports the server or the WSGI gateway.
"""
from http import HTTPStatus

from .handler import DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, BaseHTTPRequestHandler, RequestHandler

_ENGINE_NAMES = ("HTTPServer", "ThreadingHTTPServer", "HandlerApplication")

__all__ = ["RequestHandler", "BaseHTTPRequestHandler", "HTTPStatus", "DEFAULT_ERROR_MESSAGE",
           "DEFAULT_ERROR_CONTENT_TYPE", *_ENGINE_NAMES]


def __getattr__(name):
    if name in _ENGINE_NAMES:
        from ..wsgi import handler_adapter

        return getattr(handler_adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
