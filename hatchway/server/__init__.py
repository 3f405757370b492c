"""hatchway.server: the protocol-agnostic socket-server core."""
from .config import ServerConfig
from .listeners import BindError, Listener, open_listeners, parse_bind
from .pool import ThreadPool
from .worker import Worker

__all__ = ["ServerConfig", "BindError", "Listener", "open_listeners", "parse_bind", "ThreadPool", "Worker"]
