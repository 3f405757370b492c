"""hatchway.server: the protocol-agnostic socket-server core."""
from __future__ import annotations

from typing import Any

from .config import ServerConfig
from .listeners import BindError, Listener, open_listeners, parse_bind
from .pool import ThreadPool
from .worker import Worker

# The socketserver-shaped layer (issue #4): generic stream servers and their handlers.  Imported on
# first use: `hatchway serve` never needs them, and each worker would carry them (issue #8, memory).
_LAZY = {
    "BaseRequestHandler": "stream_handlers", "StreamRequestHandler": "stream_handlers",
    "TCPServer": "stream", "UnixStreamServer": "stream", "ThreadingTCPServer": "stream",
    "ThreadingUnixStreamServer": "stream", "ForkingTCPServer": "stream", "ForkingUnixStreamServer": "stream",
    "ServerBindError": "stream",
}

__all__ = ["ServerConfig", "BindError", "Listener", "open_listeners", "parse_bind", "ThreadPool", "Worker",
           "BaseRequestHandler", "StreamRequestHandler", "TCPServer", "UnixStreamServer", "ThreadingTCPServer",
           "ThreadingUnixStreamServer", "ForkingTCPServer", "ForkingUnixStreamServer", "ServerBindError"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
