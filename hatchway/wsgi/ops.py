"""Operational guards around the application, each a thin WSGI layer installed only when configured:

* the readiness path answers 200 while the worker serves and 503 once it drains;
* load shedding answers 503 + Retry-After + Connection: close to a request that waited in the
  thread-pool queue longer than max_queue_wait, instead of letting latency grow without bound;
* the watchdog layer registers each request's time in the application;
* the request counter feeds --max-requests.

`state` is the process's lifecycle object: it has `ready`, `requests` and `watchdog`.
"""
from __future__ import annotations

import logging
import threading
import time

from .filewrapper import FileWrapper

log = logging.getLogger("hatchway.error")
_local = threading.local()


class QueueTimer:
    """Stands in for the gateway's pool and notes, per task, how long it waited for a thread."""

    __slots__ = ("pool",)

    def __init__(self, pool):
        self.pool = pool

    def submit(self, fn, *args) -> None:
        self.pool.submit(_timed, fn, args, time.monotonic())

    def __getattr__(self, name):
        return getattr(self.pool, name)


def _timed(fn, args, queued_at):
    _local.wait = time.monotonic() - queued_at
    fn(*args)


def _take_queue_wait() -> float:
    """The wait of the task this thread runs; 0 for the pipelined requests that follow the first."""
    wait = getattr(_local, "wait", 0.0)
    _local.wait = 0.0
    return wait


def health_middleware(app, path: str, state):
    ok = [b"ok\n"]
    draining = [b"draining\n"]

    def health_app(environ, start_response):
        if environ["PATH_INFO"] != path:
            return app(environ, start_response)
        headers = [("Content-Type", "text/plain"), ("Cache-Control", "no-store")]
        if state.ready:
            start_response("200 OK", headers)
            return ok
        start_response("503 Service Unavailable", headers + [("Connection", "close")])
        return draining

    health_app.__wrapped__ = app  # type: ignore[attr-defined]  # inspect.unwrap() and tests find the app beneath
    return health_app


def shedding_middleware(app, max_wait: float, retry_after: int = 1, state=None):
    body = [b"Service Unavailable: the server is overloaded, retry later\n"]
    shed = [0]
    metrics = getattr(state, "metrics", None)

    def shedding_app(environ, start_response):
        wait = _take_queue_wait()
        if wait <= max_wait:
            return app(environ, start_response)
        shed[0] += 1
        if metrics is not None:
            metrics.shed += 1
        if shed[0] == 1 or shed[0] % 100 == 0:
            log.warning("shedding load: a request waited %.3fs for a thread (max %.3fs); %d shed so far",
                        wait, max_wait, shed[0])
        start_response("503 Service Unavailable", [
            ("Content-Type", "text/plain"), ("Retry-After", str(retry_after)), ("Connection", "close")])
        return body

    shedding_app.__wrapped__ = app  # type: ignore[attr-defined]
    return shedding_app


class _Watched:
    """The app's response iterable, still watched until the server closes it."""

    __slots__ = ("result", "watchdog", "token")

    def __init__(self, result, watchdog, token):
        self.result = result
        self.watchdog = watchdog
        self.token = token

    def __iter__(self):
        return iter(self.result)

    def close(self):
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            self.watchdog.leave(self.token)


def watchdog_middleware(app, watchdog):
    def watched_app(environ, start_response):
        label = f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI', environ['PATH_INFO'])} " \
                f"from {environ.get('REMOTE_ADDR') or 'unix peer'}"
        token = watchdog.enter(label)
        try:
            result = app(environ, start_response)
        except BaseException:
            watchdog.leave(token)
            raise
        kind = type(result)
        if kind is list or kind is tuple or kind is FileWrapper:
            watchdog.leave(token)  # the app is done; what is left is the server's writing
            return result
        return _Watched(result, watchdog, token)

    watched_app.__wrapped__ = app  # type: ignore[attr-defined]
    return watched_app


def counting_middleware(app, state):
    def counted_app(environ, start_response):
        state.requests += 1  # read on the loop's tick; an approximate count is all max-requests needs
        return app(environ, start_response)

    counted_app.__wrapped__ = app  # type: ignore[attr-defined]
    return counted_app


def wrap(app, config, state=None):
    """The layers this config asks for, outermost first: health, shedding, counting, watchdog.
    With a default config there are none (forwarded headers: see `forwarded_rule`)."""
    if state is not None and getattr(state, "watchdog", None) is not None:
        app = watchdog_middleware(app, state.watchdog)
    if state is not None and config.max_requests:
        app = counting_middleware(app, state)
    if config.max_queue_wait and config.threads > 0:
        app = shedding_middleware(app, config.max_queue_wait, state=state)
    if config.health_path:
        app = health_middleware(app, config.health_path, state if state is not None else _AlwaysReady)
    # The forwarded-header layer is not a wrapper here: the gateway applies it to the environ it
    # builds (`forwarded_rule`), which saves a Python call on every request.
    return app


class _AlwaysReady:
    ready = True


def forwarded_rule(config):
    """(TrustedPeers, family) for the gateway to apply to each environ, or None when off."""
    if not config.forwarded_allow_ips:
        return None
    from .proxy import FAMILIES, TrustedPeers

    if config.forwarded_headers not in FAMILIES:
        raise ValueError(f"forwarded_headers must be one of {', '.join(FAMILIES)}, not {config.forwarded_headers!r}")
    return (TrustedPeers(config.forwarded_allow_ips), config.forwarded_headers)
