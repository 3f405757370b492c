"""hatchway.server: the protocol-agnostic socket-server core."""
from .config import ServerConfig
from .listeners import BindError, Listener, open_listeners, parse_bind
from .pool import ThreadPool
from .worker import Worker

# The socketserver-shaped layer (issue #4): generic stream servers and their handlers.
from .handlers import BaseRequestHandler, StreamRequestHandler
from .stream import (ForkingTCPServer, ForkingUnixStreamServer, ServerBindError, TCPServer, ThreadingTCPServer,
                     ThreadingUnixStreamServer, UnixStreamServer)

__all__ = ["ServerConfig", "BindError", "Listener", "open_listeners", "parse_bind", "ThreadPool", "Worker",
           "BaseRequestHandler", "StreamRequestHandler", "TCPServer", "UnixStreamServer", "ThreadingTCPServer",
           "ThreadingUnixStreamServer", "ForkingTCPServer", "ForkingUnixStreamServer", "ServerBindError"]
