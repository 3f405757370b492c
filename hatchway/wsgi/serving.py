"""make_server / run_simple with Werkzeug-compatible signatures, on hatchway's engine."""
from __future__ import annotations

import logging
import os
import signal
import ssl
import sys
import threading

from ..http.policy import Limits
from ..server.config import ServerConfig
from ..server.listeners import Listener, from_fd, make_ssl_context, open_listeners
from ..server.worker import Worker
from .connection import HTTPConnection
from .environ import connection_environ, listener_environ
from .filewrapper import FileWrapper

log = logging.getLogger("hatchway.error")


class Gateway:
    """What every connection of one server shares: the app, the limits, the pool."""

    __slots__ = ("app", "config", "limits", "pool", "server_header", "access_log")

    def __init__(self, app, config: ServerConfig):
        self.app = app
        self.config = config
        self.limits = Limits(
            max_target_size=config.max_target_size,
            max_header_count=config.max_header_count,
            max_header_size=config.max_header_size,
            max_body_size=config.max_body_size,
            max_pipelined=config.max_pipelined,
        )
        self.pool = None
        self.server_header = config.server_header.encode("latin-1") if config.server_header else b""
        self.access_log = config.access_log


class WSGIServer:
    """A bound server.  `serve_forever()` runs the event loop in the calling thread; `shutdown()`
    (from another thread) drains and stops it; `server_close()` releases the sockets."""

    def __init__(self, listeners, app, config: ServerConfig, multiprocess: bool = False):
        if not listeners:
            raise ValueError("a server needs at least one listener")
        self.config = config
        self.app = app
        self.listeners = listeners
        self.gateway = Gateway(app, config)
        self._bases = {}
        for listener in listeners:
            scheme = config.url_scheme or ("https" if listener.ssl_context else "http")
            self._bases[listener.fd] = listener_environ(listener, scheme, config.threads > 0, multiprocess,
                                                        FileWrapper)
        self.worker = Worker(listeners, self._connection, config)
        self.gateway.pool = self.worker.pool

    def _connection(self, worker, sock, addr, listener):
        env = connection_environ(self._bases[listener.fd], addr)
        return HTTPConnection(worker, sock, addr, env, self.gateway)

    @property
    def server_address(self):
        return self.listeners[0].address

    @property
    def host(self):
        addr = self.server_address
        return addr[0] if isinstance(addr, tuple) else addr

    @property
    def port(self):
        addr = self.server_address
        return addr[1] if isinstance(addr, tuple) else 0

    def serve_forever(self, poll_interval: float = 0.25) -> None:
        self.worker.serve_forever(poll_interval)

    def shutdown(self) -> None:
        self.worker.shutdown()

    def server_close(self) -> None:
        self.worker.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server_close()


def _ssl_context(ssl_context):
    if ssl_context is None or isinstance(ssl_context, ssl.SSLContext):
        return ssl_context
    if isinstance(ssl_context, tuple):
        return make_ssl_context(*ssl_context)
    if ssl_context == "adhoc":
        raise ValueError("ssl_context='adhoc' is not supported: pass an ssl.SSLContext or (certfile, keyfile)")
    raise TypeError(f"ssl_context must be an ssl.SSLContext or a (certfile, keyfile) tuple, not {ssl_context!r}")


def make_server(host, port, app, threaded=False, processes=1, request_handler=None, passthrough_errors=False,
                ssl_context=None, fd=None, *, threads=None, config: ServerConfig | None = None, **options):
    """Create a bound WSGIServer.  `threaded=True` means a pool of 8 threads unless `threads` is
    given; `threads=0` runs the app inline on the event loop.  `options` are ServerConfig fields."""
    if processes and processes > 1:
        raise ValueError("processes > 1 needs the prefork supervisor: use `hatchway serve --workers N`")
    if request_handler is not None:
        raise TypeError("request_handler is a Werkzeug/http.server class; hatchway serves WSGI apps directly")
    if threads is None:
        threads = 8 if threaded else 0
    cfg = (config or ServerConfig()).updated(threads=threads, **options)
    ctx = _ssl_context(ssl_context)
    if fd is not None:
        listeners = [Listener(from_fd(fd), "tcp", ctx)]
    elif isinstance(host, str) and host.startswith("unix://"):
        listeners = open_listeners([f"unix:{host[7:]}"], cfg.backlog, ctx)
    else:
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        listeners = open_listeners([bind], cfg.backlog, ctx)
    return WSGIServer(listeners, app, cfg)


def run_simple(hostname, port, application, use_reloader=False, use_debugger=False, use_evalex=True,
               extra_files=None, exclude_patterns=None, reloader_interval=1, reloader_type="auto", threaded=False,
               processes=1, request_handler=None, static_files=None, passthrough_errors=False, ssl_context=None,
               fd=None, **options):
    """Serve `application` until SIGINT or SIGTERM, like werkzeug.serving.run_simple."""
    if use_debugger:
        from werkzeug.debug import DebuggedApplication

        application = DebuggedApplication(application, evalex=use_evalex)
    if static_files:
        from werkzeug.middleware.shared_data import SharedDataMiddleware

        application = SharedDataMiddleware(application, static_files)
    if use_reloader:
        from ..cli import main as cli_main  # the reloading supervisor lives with the CLI

        raise SystemExit(cli_main(["serve", "--reload", "--bind", f"{hostname}:{port}"], app=application))
    srv = make_server(hostname, port, application, threaded, processes, request_handler, passthrough_errors,
                      ssl_context, fd, **options)
    scheme = "https" if ssl_context else "http"
    _info(f" * Running on {scheme}://{_display(srv.server_address)}/ (Press CTRL+C to quit)")
    serve_until_signalled(srv)


def serve_until_signalled(srv) -> None:
    """serve_forever with SIGINT/SIGTERM stopping it gracefully (main thread only)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            srv.worker.request_stop(graceful=True)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        srv.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        srv.server_close()


def _display(address) -> str:
    if isinstance(address, str):
        return f"unix:{address}"
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

