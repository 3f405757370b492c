"""`hatchway.http.server`: the http.server names, so porting is a changed import.

    from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer

`RequestHandler` (alias `BaseHTTPRequestHandler`) is sans-I/O and lives in
hatchway.http.request_handler.  `HTTPServer` (alias `ThreadingHTTPServer`) runs handlers on the
hatchway engine; it lives in hatchway.wsgi.handler_server (and `HandlerApplication`, the WSGI form
of a handler class, in hatchway.wsgi.handler_app), imported from there on first use.  This is the
one place in hatchway.http that reaches down to the engine, and it does so lazily, so importing
hatchway.http never imports the server or the WSGI gateway.
"""
from http import HTTPStatus

from .request_handler import DEFAULT_ERROR_CONTENT_TYPE, DEFAULT_ERROR_MESSAGE, BaseHTTPRequestHandler, RequestHandler

# name -> the hatchway.wsgi module that defines it
_ENGINE_NAMES = {"HTTPServer": "handler_server", "ThreadingHTTPServer": "handler_server",
                 "HandlerApplication": "handler_app"}

__all__ = ["RequestHandler", "BaseHTTPRequestHandler", "HTTPStatus", "DEFAULT_ERROR_MESSAGE",
           "DEFAULT_ERROR_CONTENT_TYPE", *_ENGINE_NAMES]


def __getattr__(name: str) -> object:
    module = _ENGINE_NAMES.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(f"hatchway.wsgi.{module}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
