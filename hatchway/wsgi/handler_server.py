"""`HTTPServer`: http.server.HTTPServer's shape, serving RequestHandler classes on the engine.

It is a WSGIServer whose application is the handler class's `HandlerApplication`: the gateway then
runs handlers on `HandlerConnection`s, straight from the parser's requests (handler_connection.py),
so handlers get keep-alive, pipelining, strict parsing, limits and timeouts exactly as WSGI
applications do.  Listeners and config are settled as make_server settles them (`bound_listeners`).
"""
from __future__ import annotations

import threading
from typing import Any

from ..server.config import ServerConfig
from .handler_app import HandlerApplication, check_handler_class
from .serving import WSGIServer, bound_listeners


class HTTPServer(WSGIServer):
    """http.server.HTTPServer's shape on the hatchway engine.

    `server_address` is (host, port) ("::" for IPv6, port 0 for any free port) or a Unix socket
    path.  `threads` handler threads (0 runs handlers on the event loop itself); other keyword
    arguments are ServerConfig fields (timeouts, limits...).  The server is bound and listening
    when the constructor returns: hatchway's listeners bind and listen in one step, so
    `bind_and_activate=False` is refused, and `server_bind()` / `server_activate()` do nothing.
    """

    def __init__(self, server_address: Any, RequestHandlerClass: type, bind_and_activate: bool = True, *,
                 threads: int = 8, ssl_context: Any = None, config: ServerConfig | None = None,
                 **options: Any) -> None:
        check_handler_class(RequestHandlerClass)
        if not bind_and_activate:
            raise ValueError("HTTPServer binds and listens when it is created (bind_and_activate=False is not "
                             "supported): create it when you want it listening")
        self.RequestHandlerClass = RequestHandlerClass
        self._serving: threading.Thread | None = None  # the thread inside serve_forever()
        listeners, cfg = bound_listeners(server_address, threads, ssl_context, config, options)
        super().__init__(listeners, HandlerApplication(RequestHandlerClass, self), cfg)
        address = self.server_address
        if isinstance(address, tuple):
            self.server_name, self.server_port = address[0], address[1]
        else:
            self.server_name, self.server_port = address, 0

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        self._serving = threading.current_thread()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = None

    def server_close(self) -> None:
        """Release the sockets.  As with socketserver, call it after serve_forever() returned;
        called while another thread serves, it shuts that loop down first (closing listeners
        under a running loop would leave it polling nothing)."""
        serving = self._serving
        if serving is not None and serving is not threading.current_thread():
            self.shutdown()
        super().server_close()

    def server_bind(self) -> None:
        pass  # done by the constructor

    def server_activate(self) -> None:
        pass  # the listener already listens

    @property
    def socket(self) -> Any:
        return self.listeners[0].sock

    def fileno(self) -> int:
        return int(self.socket.fileno())


ThreadingHTTPServer = HTTPServer
