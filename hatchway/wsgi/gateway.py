"""What every connection of one server shares: the app, the limits, the pool, the hot settings.

A compiled module of its own: the connection reads these fields on every request, and in the
compiled build a typed native class makes each read a struct load instead of a dict lookup.
"""
from __future__ import annotations

from typing import Any

from ..http.policy import Limits
from ..server.config import ServerConfig


class Gateway:
    __slots__ = ("app", "config", "limits", "pool", "server_header", "access_log", "forwarded", "observer",
                 "header_timeout", "keepalive_timeout", "drain_grace")

    app: Any
    config: Any
    pool: Any  # the worker's pool, or a QueueTimer over it
    access_log: Any
    forwarded: Any  # (TrustedPeers, family): forwarded headers applied to each environ
    observer: Any   # wsgi/observe.py: access log, metrics, request ids, Server-Timing

    def __init__(self, app: Any, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.limits = Limits(
            max_target_size=config.max_target_size,
            max_header_count=config.max_header_count,
            max_header_size=config.max_header_size,
            max_field_size=config.max_field_size,
            max_body_size=config.max_body_size,
            max_pipelined=config.max_pipelined,
        )
        self.pool = None
        self.server_header: bytes = config.server_header.encode("latin-1") if config.server_header else b""
        self.access_log = config.access_log
        self.forwarded = None
        self.observer = None
        # Read after every response (the next wait's deadline): copied out of the config, typed.
        self.header_timeout: float = float(config.header_timeout)
        self.keepalive_timeout: float = float(config.keepalive_timeout)
        self.drain_grace: float = float(config.drain_grace)
