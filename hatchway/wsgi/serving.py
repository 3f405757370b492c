"""make_server / run_simple with Werkzeug-compatible signatures, on hatchway's engine."""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from ..server.config import ServerConfig
from ..server.listeners import Listener, describe, from_fd, make_ssl_context, open_listeners
from ..server.proxy_protocol import ProxyHandshake
from ..server.worker import Worker
from .connection import HTTPConnection
from .environ import connection_environ, listener_environ
from .gateway import Gateway
from .filewrapper import FileWrapper
from .observe import Observer  # at import, before a --user drop may hide the standard library
from .proxy import TrustedPeers
from . import ops

log = logging.getLogger("hatchway.error")


class WSGIServer:
    """A bound server.  `serve_forever()` runs the event loop in the calling thread; `shutdown()`
    (from another thread) drains and stops it; `server_close()` releases the sockets."""

    def __init__(self, listeners, app, config: ServerConfig, multiprocess: bool = False, state=None,
                 proxy_protocol=()):
        if not listeners:
            raise ValueError("a server needs at least one listener")
        self.config = config
        self.app = app
        self.listeners = listeners
        self.state = state  # the process's ServingState (readiness, request count, watchdog), if any
        self._proxy_fds = {listener.fd for listener in proxy_protocol}
        self._proxy_peers = TrustedPeers(config.proxy_allow_ips)
        self.gateway = Gateway(ops.wrap(app, config, state), config)
        self.gateway.forwarded = ops.forwarded_rule(config)
        self.gateway.observer = Observer.for_config(
            config, getattr(state, "metrics", None),
            self.gateway.forwarded[0] if self.gateway.forwarded else None)
        self._bases = {}
        for listener in listeners:
            scheme = config.url_scheme or ("https" if listener.ssl_context else "http")
            self._bases[listener.fd] = listener_environ(listener, scheme, config.threads > 0, multiprocess,
                                                        FileWrapper)
        # The connection class: HTTPConnection, unless the app runs better without an environ and
        # nothing between needs one (hatchway.wsgi.handler_app: http.server-style handlers).
        self.connection_class = HTTPConnection
        connection_for = getattr(app, "hatchway_connection_for", None)
        if connection_for is not None:
            self.connection_class = connection_for(self.gateway) or HTTPConnection
        self.worker = Worker(listeners, self._connection, config)
        self.gateway.pool = self.worker.pool
        if config.max_queue_wait and self.worker.pool is not None:
            self.gateway.pool = ops.QueueTimer(self.worker.pool)

    def _connection(self, worker, sock, addr, listener):
        if listener.fd in self._proxy_fds:
            # A PROXY header names the client; believe it only from the balancers we were told of, or
            # anyone who reaches the listener could claim any address (a trusted one included).
            peer = addr[0] if isinstance(addr, tuple) else ""
            if peer not in self._proxy_peers:
                raise OSError(f"{peer or 'a unix peer'} may not send PROXY protocol headers (--proxy-allow-ips)")
            return ProxyHandshake(worker, sock, addr, listener, self._http_connection, self.config.header_timeout)
        return self._http_connection(worker, sock, addr, listener)

    def _http_connection(self, worker, sock, addr, listener):
        env = connection_environ(self._bases[listener.fd], addr)
        return self.connection_class(worker, sock, addr, env, self.gateway)

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
        """Stop serve_forever() gracefully and wait until it has returned (from the loop's own
        thread: ask, and return).  Before serve_forever() starts, the stop is remembered: it
        returns at once."""
        self.worker.shutdown()

    def server_close(self) -> None:
        self.worker.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server_close()


def _ssl_context(ssl_context):
    if ssl_context is None:
        return None
    import ssl  # lazily: ~5 MiB of RSS a server without TLS never needs

    if isinstance(ssl_context, ssl.SSLContext):
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
        raise ValueError("make_server serves in one process; for processes > 1 use run_simple(processes=N) "
                         "or `hatchway serve --workers N`")
    if request_handler is not None:
        raise TypeError("request_handler is a Werkzeug/http.server class; hatchway serves WSGI apps directly")
    if threads is None:
        threads = 8 if threaded else 0
    address = host if str(host).startswith("unix://") else (host, port)
    listeners, cfg = bound_listeners(address, threads, ssl_context, config, options, fd)
    return WSGIServer(listeners, app, cfg)


def bound_listeners(address, threads: int, ssl_context, config: ServerConfig | None, options: dict,
                    fd: int | None = None) -> tuple[list[Listener], ServerConfig]:
    """What every bound-object server (make_server, http.server's HTTPServer) settles the same way:
    the config from `config` and keyword fields, the TLS context, and the listener for `address`
    (see bind_spec) or the inherited `fd`.  Unlike serve(), no HATCHWAY_* variables or config file:
    a server embedded in a program does what the program says."""
    cfg = (config or ServerConfig()).updated(threads=threads, **options)
    ctx = _ssl_context(ssl_context)
    if fd is not None:
        return [Listener(from_fd(fd), "tcp", ctx)], cfg
    return open_listeners([bind_spec(address)], cfg.backlog, ctx), cfg


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
    from . import script_reload

    if use_reloader and script_reload.child_socket_fd() is None:
        # The parent: bind once, then keep a generation of this very script serving on it.
        address = hostname if hostname.startswith("unix://") else (hostname, port)
        listeners = open_listeners([bind_spec(address)]) if fd is None else [Listener(from_fd(fd), "tcp")]
        _info(f" * Running on http://{_display(listeners[0].address)}/ with reloading (Press CTRL+C to quit)")
        raise SystemExit(script_reload.run_with_reloader(listeners[0], extra_files))
    if script_reload.child_socket_fd() is not None:
        fd = script_reload.child_socket_fd()
    if request_handler is not None:
        raise TypeError("request_handler is a Werkzeug/http.server class; hatchway serves WSGI apps directly")
    # One path for every way in: the settings settle with HATCHWAY_* and the config file exactly as
    # `hatchway serve` flags do, whether processes is 1 or 8.
    from ..launch import serve

    threads = options.pop("threads", None)
    options["threads"] = threads if threads is not None else (8 if threaded else 0)
    options["workers"] = processes if processes and processes > 1 else 0
    where = {"fd": [fd]} if fd is not None else {"host": hostname, "port": port}
    return serve(application, ssl_context=_ssl_context(ssl_context) if not isinstance(ssl_context, tuple)
                 else ssl_context, banner=not use_reloader, on_ready=lambda _: script_reload.report_ready(),
                 **where, **options)


def bind_spec(address) -> str:
    """The `--bind` spelling of an address: `(host, port)` -> "host:port" or "[v6]:port" (an empty
    host is every IPv4 address, as for socket.bind); a Unix socket path (str, bytes, os.PathLike,
    optionally "unix://path") -> "unix:path"."""
    if isinstance(address, tuple):
        host, port = address[:2]
        if not host.startswith("unix://"):
            return describe((host or "0.0.0.0", int(port)))
        address = host
    path = os.fsdecode(address)
    return describe(path[7:] if path.startswith("unix://") else path, "unix")


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
    return describe(address, "unix" if isinstance(address, str) else "tcp")


def _info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

