"""A connection that runs an http.server-style handler straight from the parser's Request.

Why a connection subclass and not a WSGI application: a WSGI application only sees the environ,
whose CGI keys have lost the fields' case, every name containing `_` and the order of repeated
fields, and building the environ (then headers from it) was most of the handler API's cost over
plain WSGI.  Everything else a connection does (framing, keep-alive, pipelining, 100-continue,
drain, the write-stall timeout, the pool and the stall hand-off) stays the engine's: this class
replaces only the one-exchange step, `_respond(req, blocking)`, and drives the same callables a
WSGI application gets, `start_response()` and its `write()`, then hands the response iterable to
the base class's pump as `_respond` does.  The body is read through the same `Input` object as
wsgi.input.

The serving gateway picks this class (`HandlerApplication.hatchway_connection_for`) only when nothing
on the way needs an environ: no ops middleware (health, shedding, counting, watchdog), no request
ids or Server-Timing.  Otherwise the handler runs as a WSGI application.  Forwarded headers are
applied here as the gateway applies them to an environ (`_forwarded`): from a trusted proxy they
set `client_address`; from anyone else they are removed before the handler sees them.
"""
from __future__ import annotations

import time
from typing import Any, Final

from .connection import HTTPConnection
from .errors import ClientGone
from ..http.request_handler import headers_from_fields
from .handler_app import Exchange, HandlerApplication, run_handler
from .input import EMPTY_INPUT, Input
from .proxy import FORWARDED_KEYS, apply_forwarded

_monotonic: Final = time.monotonic
# The field names (lower case) the forwarded rule reads: X-Forwarded-For... and Forwarded.
_FORWARDED_NAMES: Final = frozenset(key[5:].lower().replace("_", "-").encode() for key in FORWARDED_KEYS)


def _forwarded(fields: list[tuple[bytes, bytes]], client: tuple[str, int],
               rule: tuple[Any, str]) -> tuple[list[tuple[bytes, bytes]], tuple[str, int]]:
    """(fields, client address) after the gateway's forwarded rule, which works on environ keys:
    the forwarded fields become a small environ, and only those the rule keeps stay in `fields`."""
    env: dict[str, str] = {"REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1]) if client[0] else ""}
    for name, value in fields:
        lower = name.lower()
        if lower in _FORWARDED_NAMES:
            key = "HTTP_" + lower.decode("latin-1").upper().replace("-", "_")
            v = value.decode("latin-1")
            env[key] = env[key] + ", " + v if key in env else v  # repeats combine, as in an environ
    apply_forwarded(env, rule[0], rule[1])
    kept = [(name, value) for name, value in fields
            if name.lower() not in _FORWARDED_NAMES
            or "HTTP_" + name.decode("latin-1").upper().replace("-", "_") in env]
    port = env["REMOTE_PORT"]
    return kept, (env["REMOTE_ADDR"], int(port) if port else 0)


class HandlerConnection(HTTPConnection):
    __slots__ = ()

    # HTTPConnection's declarations, repeated where this class resets them to None (mypyc accepts
    # the same type again; tests/e2e/test_e2e_build.py checks each compiled class on its own).
    status: Any
    headers: Any
    framing: Any
    result: Any
    iterator: Any
    error: Any

    @staticmethod
    def can_serve(gateway: Any, app: HandlerApplication) -> bool:
        obs = gateway.observer
        return gateway.app is app and (obs is None or not obs.wraps)

    def _respond(self, req: Any, blocking: bool) -> bool:
        # The exchange's state, set as Exchange._respond sets it (the rest is None: _clear_exchange).
        self.req = req
        self.sent = 0
        self.blocking = blocking
        self.continued = self.continue_for is req
        self.body_done = False
        self.close_after = False
        self.started = _monotonic()
        gateway = self.gateway
        app: HandlerApplication = gateway.app
        try:
            handler_class = app.handler_class
            addr = self.addr
            client = (addr[0], addr[1]) if type(addr) is tuple and addr and addr[0] else ("", 0)
            fields = req.headers
            rule = gateway.forwarded
            if rule is not None:
                names = _FORWARDED_NAMES
                for name, _ in fields:
                    if name.lower() in names:
                        fields, client = _forwarded(fields, client, rule)
                        break
            ex = Exchange(req.method, req.target.decode("latin-1"), "HTTP/" + req.version, fields,
                          headers_from_fields, Input(self, req) if req.has_body else EMPTY_INPUT,
                          self._start_response, handler_class.wbufsize)
            obs = self.access
            if obs is not None and obs.phases:  # observer hook: the access log's app time
                self.error = None
                self.app_done = 0.0
                result = run_handler(handler_class, ex, client, app.server)
                self.app_done = _monotonic()
            else:
                result = run_handler(handler_class, ex, client, app.server)
            self.result = result
            if type(result) is list and self.framing is None:
                return self._send_whole(result[0])  # a buffered body (wbufsize): one send, with a length
            self.iterator = iter(result)
            return self._pump()
        except ClientGone as exc:
            self._lost(str(exc) or "gone")
            return False
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too: a 500, never a dead worker
            return self._answer_failure(exc)
