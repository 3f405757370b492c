"""What each exchange tells the operator: the access-log line, the metrics, the request id and the
Server-Timing header.  The connection calls in at a few hook points (wsgi/connection.py):

    begin(conn, environ)        the app is about to be called (request id, Server-Timing)
    exchange(conn, req, code)   the last byte of a response was written
    engine(conn, code, reason)  the engine answered by itself (400/408/413/431...)
    aborted(conn, why)          a response was cut off (client gone, write timeout, app failure)

Timestamps on the connection (monotonic seconds): `ready_at` the request was parsed and ready (or the
previous pipelined response ended), `started` the app was called, `app_done` the app returned and its
iterable ended, then now: the last byte written.  The gateway has an Observer only when something
listens, so a server without access log and metrics pays one `is None` per request.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

from .logformat import compile_format

access_log = logging.getLogger("hatchway.access")
_monotonic = time.monotonic
_REQUEST_ID = "HTTP_X_REQUEST_ID"
_MAX_ID = 200


class Observer:
    __slots__ = ("format", "metrics", "request_id", "server_timing", "wraps", "phases", "worker", "trusted",
                 "_log", "raw")

    def __init__(self, config, metrics=None, trusted=None):
        self.format = compile_format(config.access_log_format) if config.access_log else None
        self.metrics = metrics
        self.request_id = config.request_id
        self.server_timing = config.server_timing
        self.wraps = self.request_id or self.server_timing
        self.phases = self.format is not None  # the connection stamps app_done only for the log
        self.worker = os.getpid()
        self.trusted = trusted  # TrustedPeers: whose X-Request-ID is believed
        # logger.handle(makeRecord(...)), not logger.info: .info walks the stack for the caller's file
        # and line on every call, a third of a line's cost, for fields an access log never prints.
        self._log = access_log
        # Metrics alone (no log line, no id, no header): the connection records into WorkerMetrics.raw
        # itself at the end of an exchange, without calling exchange() (a Python call and a clock
        # read more than the record).  None when anything else listens.
        self.raw = metrics.raw if metrics is not None and self.format is None and not self.wraps else None

    @classmethod
    def for_config(cls, config, metrics=None, trusted=None):
        if not config.access_log and access_log.isEnabledFor(logging.INFO):
            from dataclasses import replace

            config = replace(config, access_log=True)  # make_server users who set up the logger
        if not (config.access_log or metrics is not None or config.request_id or config.server_timing):
            return None
        return cls(config, metrics, trusted)

    # -- before the app --------------------------------------------------------------------------------
    def begin(self, conn, environ):
        """Returns the start_response the app gets."""
        rid = None
        if self.request_id:
            rid = environ.get(_REQUEST_ID)
            if rid is not None and not (self._trusted(conn) and _plausible(rid)):
                rid = None
            if rid is None:
                rid = os.urandom(8).hex()
                environ[_REQUEST_ID] = rid
        conn.rid = rid
        inner = conn.start_response
        timing = self.server_timing

        def start_response(status, headers, exc_info=None):
            extra = []
            if rid is not None:
                extra.append(("X-Request-ID", rid))
            if timing:
                now = _monotonic()
                extra.append(("Server-Timing", "queue;dur=%.3f, app;dur=%.3f" % (
                    (conn.started - conn.ready_at) * 1000, (now - conn.started) * 1000)))
            return inner(status, list(headers) + extra, exc_info)

        return start_response

    def _trusted(self, conn) -> bool:
        addr = conn.addr
        peer = addr[0] if isinstance(addr, tuple) and addr else ""  # "": a Unix-socket peer
        return self.trusted is not None and peer in self.trusted

    # -- after -----------------------------------------------------------------------------------------
    def exchange(self, conn, req, code: int) -> None:
        now = _monotonic()
        started = conn.started
        ready = conn.ready_at if conn.ready_at <= started else started
        conn.ready_at = now  # a pipelined request behind this one is ready from now
        m = self.metrics
        if m is not None:  # recorded as the connection does when metrics alone listen (WorkerMetrics.raw)
            m.raw.extend((req.method, code, now - ready, started - ready))
        if self.format is not None:
            app_done = conn.app_done if conn.app_done >= started else now
            self._line(conn, req, code, conn.sent, ready, started - ready, app_done - started, now - app_done,
                       now, conn.error)

    def engine(self, conn, code: int, reason: str, sent: int, req=None) -> None:
        """A response the engine made without the app: a malformed or over-limit request, a timeout."""
        now = _monotonic()
        req = conn.req or req
        start = getattr(conn, "head_start", now)
        if self.metrics is not None:
            self.metrics.observe(req.method if req is not None else "OTHER", code, now - start, 0.0)
        if self.format is not None:
            self._line(conn, req, code, sent, start, 0.0, 0.0, 0.0, now, reason)

    def aborted(self, conn, why: str) -> None:
        """The response in progress was cut off (the client went away, a write timed out...)."""
        req = conn.req
        if req is None:
            return
        now = _monotonic()
        f = conn.framing
        code = f.code if f is not None else 0
        started = conn.started
        ready = conn.ready_at if conn.ready_at <= started else started
        if self.metrics is not None:
            self.metrics.observe(req.method, code, now - ready, started - ready)
        if self.format is not None:
            app_done = conn.app_done if conn.app_done >= started else now
            self._line(conn, req, code, conn.sent, ready, started - ready, app_done - started, now - app_done,
                       now, f"aborted: {why}")

    def _line(self, conn, req, code, sent, ready, queue, app, write, now, error) -> None:
        env = conn.env_base
        if req is not None:
            target = req.target.decode("latin-1")
            path, _, query = target.partition("?")
            method, protocol = req.method, f"HTTP/{req.version}"
            headers = req.headers
            bytes_in = len(target) + len(method) + 12 + sum(len(k) + len(v) + 4 for k, v in headers)
            bytes_in += req.body.received if req.has_body else 0
        else:
            path = query = method = protocol = ""
            headers = ()
            bytes_in = 0
        wall = time.time() - (now - ready)
        iso, clf = _stamps(int(wall))
        record = {
            "time": iso + ".%03dZ" % (wall % 1 * 1000),
            "time_clf": clf,
            "remote": env.get("REMOTE_ADDR", "") or "",
            "method": method, "path": path, "query": query, "protocol": protocol, "status": code,
            "bytes_in": bytes_in, "bytes_out": sent,
            "duration_ms": round((now - ready) * 1000, 3), "queue_ms": round(queue * 1000, 3),
            "app_ms": round(app * 1000, 3), "write_ms": round(write * 1000, 3),
            "request_id": conn.rid if req is not None else None, "worker": self.worker, "error": error,
            "referer": _header(headers, b"referer"), "user_agent": _header(headers, b"user-agent"),
            "host": _header(headers, b"host"),
        }
        logger, fmt = self._log, self.format
        assert fmt is not None  # callers write a line only when there is a format
        try:
            logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, fmt(record), (), None))
        except Exception:  # noqa: BLE001 - a log line must never cost the response
            logging.getLogger("hatchway.error").exception("formatting an access log line failed")


_stamp_cache: list[Any] = [None, "", ""]  # second, ISO, CLF


def _stamps(second: int):
    """(ISO 8601, CLF) of a whole second in UTC, formatted once per second."""
    cache = _stamp_cache
    if cache[0] != second:
        t = time.gmtime(second)
        cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", t)
        cache[2] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", t)
        cache[0] = second
    return cache[1], cache[2]


def _header(headers, name: bytes):
    for k, v in headers:
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _plausible(rid: str) -> bool:
    """A proxy's id is passed on only if it is short and printable (it is echoed in a header)."""
    return 0 < len(rid) <= _MAX_ID and rid.isprintable() and rid.isascii()
