"""Serving an application: the one path behind `hatchway.serve()`, the CLI, `run_simple` and
`App.run`.  Settles the options (hatchway.options), sets up logging, binds, and serves in this
process or under a supervisor.  A problem the user can fix raises StartupError (one line).
"""
from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading

from .loading import AppLoadError, load_app
from .options import server_config, settle
from .server.listeners import BindError, bind_spec, describe, make_ssl_context, open_listeners
from .settings import SettingsError


class StartupError(Exception):
    """The server cannot start for a reason the user can fix; the message is one line."""


# -- logging -----------------------------------------------------------------------------------------
_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"


_installed: list = []  # (logger, handler) pairs this module added: a second serve() replaces them


def _setup_logging(values) -> None:
    for logger, old in _installed:
        logger.removeHandler(old)
        old.close()
    _installed.clear()
    fmt = logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S %z")
    error = logging.getLogger("hatchway")
    error.setLevel(getattr(logging, values["log_level"].upper()))
    path = values["error_log"]
    handler = logging.StreamHandler(sys.stderr) if path == "-" else logging.FileHandler(path)
    handler.setFormatter(fmt)
    error.addHandler(handler)
    _installed.append((error, handler))
    access = logging.getLogger("hatchway.access")
    access.propagate = False
    if values["access_log"]:
        path = values["access_log"]
        ah = logging.StreamHandler(sys.stdout) if path == "-" else logging.FileHandler(path)
        ah.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(ah)
        _installed.append((access, ah))
        access.setLevel(logging.INFO)
    else:
        # Off, not merely unheard: it would inherit INFO from "hatchway", and every request would
        # format a record for nobody (it halved keep-alive throughput).
        access.setLevel(logging.CRITICAL + 1)


def reopen_logs() -> None:
    """SIGUSR1: after logrotate moved the files, open them anew at their paths."""
    for name in ("hatchway", "hatchway.access"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    if handler.stream is not None:
                        handler.stream.close()
                    handler.stream = handler._open()
                finally:
                    handler.release()
    _enable_faulthandler()


def _enable_faulthandler() -> None:
    """SIGABRT (sent to a worker whose loop is stuck) dumps every thread's stack into the error log."""
    stream = sys.stderr
    for handler in logging.getLogger("hatchway").handlers:
        if isinstance(handler, logging.FileHandler) and handler.stream is not None:
            stream = handler.stream
            break
    try:
        faulthandler.enable(file=stream, all_threads=True)
    except (ValueError, OSError, AttributeError):
        pass


def _stop_during_startup(signum, frame):
    raise SystemExit(0)


def _load(spec, app):
    """The application, or an AppLoadError whose message is one line."""
    if app is not None:
        return app
    if not spec:
        from .demo import app as demo

        return demo
    try:
        return load_app(_file_spec(spec))
    except AppLoadError:
        raise
    except Exception as exc:
        logging.getLogger("hatchway.error").error("importing %s failed", spec, exc_info=exc)
        raise AppLoadError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from None


def _file_spec(spec: str) -> str:
    """`./app.py` or `src/app.py:make()` -> `app` / `app:make()` with the file's directory first on
    sys.path (uvicorn's --app-dir, inferred).  Anything else is a module spec, returned unchanged."""
    path, sep, rest = spec.partition(":")
    if not (path.endswith(".py") or os.sep in path):
        return spec
    if not path.endswith(".py"):
        raise AppLoadError(f"bad application spec {spec!r}: give module:app or a path to a .py file")
    if not os.path.isfile(path):
        raise AppLoadError(f"no such file {path!r}")
    name = os.path.basename(path)[:-3]
    if not name.isidentifier():
        raise AppLoadError(f"cannot import {path!r}: {name!r} is not a valid module name")
    directory = os.path.abspath(os.path.dirname(path))
    taken = sys.modules.get(name)
    if taken is not None and os.path.dirname(os.path.abspath(getattr(taken, "__file__", "") or "")) != directory:
        raise AppLoadError(f"cannot import {path!r}: the name {name!r} is already a loaded module; rename the file")
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return name + sep + rest


def _load_handler(spec: str):
    """`module:Class` -> a WSGI app running that http.server-style handler class per request."""
    from .wsgi.handler_app import HandlerApplication, check_handler_class

    if ":" not in spec:
        raise AppLoadError(f"bad handler spec {spec!r}: expected module:HandlerClass")
    handler_class = _load(spec, None)
    try:
        check_handler_class(handler_class)
    except TypeError as exc:
        raise AppLoadError(str(exc)) from None
    return HandlerApplication(handler_class)


def _load_target(values, app):
    """What this server runs: --handler's class, or the application (object, spec or demo)."""
    if values["handler"]:
        return _load_handler(values["handler"])
    return _load(values["app"], app)


def _open(values, config, ctx, with_reuse_port):
    """(shared listeners, proxy-protocol listeners, reuse-port addresses)."""
    from .server import systemd
    from .server.listeners import parse_bind

    binds = list(values["bind"])
    inherited = systemd.listen_fds()
    if values.get("_bind_source") == "default" and (inherited or values["fd"] or values["proxy_bind"]):
        binds = []  # the default address only applies when nothing else gives a listener
    binds += [f"fd://{fd}" for fd in inherited + list(values["fd"])]
    reuse: list[tuple[str, int]] = []
    if with_reuse_port:
        kept: list[str] = []
        for spec in binds:
            kind, value = parse_bind(spec)
            if kind == "tcp":
                reuse.append(value)
            else:
                kept.append(spec)
        binds = kept
    listeners = open_listeners(binds, config.backlog, ctx, reuse_port=values["reuse_port"]) if binds else []
    try:
        proxied = open_listeners(values["proxy_bind"], config.backlog, None) if values["proxy_bind"] else []
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners, proxied, reuse


def run(given: dict, app=None, environ=None, ssl_context=None, extra_config=None, banner=False,
        on_ready=None) -> int:
    """Settle `given` (by dest; None = not given) with the environment and config file, bind, and
    serve until stopped.  Returns the exit code; a problem the user can fix raises StartupError."""
    import signal

    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:
        # Until the loop runs, a stop signal simply ends the process cleanly (the loop installs its own).
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _stop_during_startup)
    try:
        values, sources = settle(given, environ)
        values["_bind_source"] = sources["bind"]
        config = server_config(values)
        if extra_config:
            config = config.updated(**extra_config)
    except (SettingsError, TypeError, ValueError) as exc:
        raise StartupError(str(exc)) from None
    if values["handler"]:
        if values["app"] or app is not None:
            raise StartupError("give an application or --handler, not both")
        if sources["threads"] == "default":
            config = config.updated(threads=8)  # handler methods usually block: give them a pool
        if sources["concurrency"] == "default" and config.threads:
            config = config.updated(concurrency="pool")  # ... that never runs them on the loop
    try:
        _setup_logging(values)
    except OSError as exc:
        raise StartupError(f"cannot open log file: {exc.strerror} ({exc.filename})") from None
    log = logging.getLogger("hatchway.error")
    for line in values["_warnings"]:
        log.warning("%s", line)
    from .server.privileges import PrivilegeError, resolve as resolve_ids

    try:
        ids = resolve_ids(values["user"], values["group"])
    except PrivilegeError as exc:
        raise StartupError(str(exc)) from None
    supervised = values["workers"] > 0 or values["reload"]
    if not supervised:
        for dest, flag in (("hard_timeout", "--hard-timeout"), ("max_requests", "--max-requests"),
                           ("metrics_bind", "--metrics-bind")):
            if values[dest]:
                log.warning("%s needs a supervisor to replace the worker (--workers N); it is off", flag)
        config = config.updated(hard_timeout=0.0, max_requests=0, metrics=False)
    ctx = ssl_context
    if ctx is None and values["certfile"]:
        try:
            ctx = make_ssl_context(values["certfile"], values["keyfile"])
        except BindError as exc:
            raise StartupError(str(exc)) from None
    reloader = None
    if values["reload"]:
        from .server.reloader import Reloader, ReloaderUnavailable

        try:
            reloader = Reloader(values["reload_dir"])
        except ReloaderUnavailable as exc:
            raise StartupError(str(exc)) from None
    try:
        listeners, proxied, reuse = _open(values, config, ctx, supervised and values["reuse_port"])
    except BindError as exc:
        raise StartupError(str(exc)) from None
    if not listeners and not proxied and not reuse:
        raise StartupError("nothing to listen on: give --bind, --fd or --proxy-bind")
    scheme = "https" if ctx else "http"
    if banner:
        for listener in listeners:
            _banner(listener, scheme)
    if on_ready is not None:
        on_ready(listeners + proxied)
    if supervised:
        return _serve_supervised(values, config, app, listeners, proxied, reuse, ctx, ids, reloader, scheme)
    return _serve_alone(values, config, app, listeners, proxied, ids, scheme, main_thread)


def _banner(listener, scheme) -> None:
    """Werkzeug's start-up line, for run_simple and App.run users (the CLI logs `listening on`)."""
    address = listener.address
    where = describe(address, "unix") if isinstance(address, str) else f"{scheme}://{describe(address)}/"
    print(f" * Running on {where} (Press CTRL+C to quit)", file=sys.stderr, flush=True)


def _announce(listeners, proxied, scheme, threads, extra=()):
    log = logging.getLogger("hatchway.error")
    for listener in listeners:
        where = listener.name if listener.kind == "unix" else f"{scheme}://{listener.name}"
        log.info("listening on %s (threads=%d)", where, threads)
    for listener in proxied:
        log.info("listening on http://%s with PROXY protocol (threads=%d)", listener.name, threads)
    for address in extra:
        log.info("listening on %s://%s with a SO_REUSEPORT socket per worker (threads=%d)", scheme,
                 describe(address), threads)


def _serve_alone(values, config, app, listeners, proxied, ids, scheme, main_thread=True) -> int:
    from .server import privileges, systemd
    from .server.lifecycle import Lifecycle
    from .server.pidfile import PidFile
    from .wsgi.serving import WSGIServer

    everything = listeners + proxied
    try:
        privileges.drop(*ids)
        app = _load_target(values, app)
    except (AppLoadError, privileges.PrivilegeError) as exc:
        for listener in everything:
            listener.close()
        raise StartupError(str(exc)) from None
    pidfile = PidFile(values["pid"]) if values["pid"] else None
    if pidfile is not None:
        pidfile.write()
    lifecycle = Lifecycle(config, reopen_logs=reopen_logs)
    srv = WSGIServer(everything, app, config, state=lifecycle.state, proxy_protocol=proxied)
    lifecycle.attach(srv.worker)
    if main_thread:
        lifecycle.install_signals()
    _enable_faulthandler()
    _announce(listeners, proxied, scheme, config.threads)
    systemd.notify(f"READY=1\nMAINPID={os.getpid()}")
    log = logging.getLogger("hatchway.error")
    try:
        lifecycle.run(srv)
    finally:
        systemd.notify("STOPPING=1")
        if pidfile is not None:
            pidfile.remove()
    log.info("stopped")
    return 0


def _serve_supervised(values, config, app, listeners, proxied, reuse, ctx, ids, reloader, scheme) -> int:
    from .server import privileges
    from .server.lifecycle import Lifecycle, die_with_parent
    from .server.pidfile import PidFile
    from .server.supervisor import EXIT_BOOT, BootError, Supervisor
    from .wsgi.serving import WSGIServer

    proxied_ids = {id(listener) for listener in proxied}
    if app is not None and reloader is not None:
        logging.getLogger("hatchway.error").warning(
            "--reload with an application object: workers restart on changes, but only module:app "
            "is imported afresh")

    def child_main(worker_listeners, status):
        try:
            privileges.drop(*ids)
        except privileges.PrivilegeError as exc:
            status.fail(str(exc))
            return EXIT_BOOT
        die_with_parent(status.parent)  # a credential change clears PR_SET_PDEATHSIG: set it again
        _enable_faulthandler()
        try:
            loaded = _load_target(values, app)
        except AppLoadError as exc:
            status.fail(str(exc))
            return EXIT_BOOT
        lifecycle = Lifecycle(config, status, supervised=True, reopen_logs=reopen_logs)
        srv = WSGIServer(worker_listeners, loaded, config, multiprocess=True, state=lifecycle.state,
                         proxy_protocol=[ls for ls in worker_listeners if id(ls) in proxied_ids])
        lifecycle.attach(srv.worker)
        lifecycle.install_signals()
        lifecycle.run(srv)
        return 0

    workers = max(1, values["workers"])
    metrics_socket = None
    if values["metrics_bind"]:
        from .server.listeners import bind_tcp, parse_bind

        try:
            _kind, address = parse_bind(values["metrics_bind"])
            metrics_socket = bind_tcp(address[0], address[1], 64)
        except (BindError, OSError, ValueError) as exc:
            for listener in listeners + proxied:
                listener.close()
            raise StartupError(f"--metrics-bind {values['metrics_bind']}: {exc}") from None
        logging.getLogger("hatchway.error").info("metrics on http://%s/metrics", describe(metrics_socket.getsockname()))
    try:
        sup = Supervisor(listeners + proxied, child_main, workers=workers, graceful_timeout=config.graceful_timeout,
                         drain_delay=config.drain_delay, heartbeat_timeout=values["heartbeat_timeout"],
                         reuse_port=reuse, backlog=config.backlog, ssl_context=ctx,
                         pidfile=PidFile(values["pid"]) if values["pid"] else None, reloader=reloader,
                         reopen_logs=reopen_logs, metrics_socket=metrics_socket)
    except BindError as exc:
        for listener in listeners + proxied:
            listener.close()
        raise StartupError(str(exc)) from None
    _announce(listeners, proxied, scheme, config.threads, sup.reuse_port_addresses)
    try:
        return sup.run()
    except BootError as exc:
        raise StartupError(str(exc)) from None




def serve(app=None, *, environ=None, ssl_context=None, host=None, port=None, banner=True, on_ready=None,
          **settings) -> int:
    """Serve `app` (a WSGI callable; None: `app=` spec / --handler / the demo) until stopped.

    `settings` are the options of `hatchway serve --help` by name, with underscores (`workers=2`,
    `keep_alive=5`, `bind="127.0.0.1:8000"` or a list), or any ServerConfig field.  They win over
    HATCHWAY_* variables and the config file, exactly as flags do.  `host`/`port` are run_simple's
    spelling of one bind.  Returns the exit code; raises StartupError for what the caller can fix.
    """
    from .options import TUNABLES, from_keywords
    from .server.config import ServerConfig

    table = {opt.dest for opt in TUNABLES} | {opt.flag[2:].replace("-", "_") for opt in TUNABLES if opt.flag}
    extra = {k: settings.pop(k) for k in list(settings) if k not in table and k in ServerConfig.names()}
    try:
        given = from_keywords(settings)
    except ValueError as exc:  # BadValue included
        raise StartupError(str(exc)) from None
    if (host is not None or port is not None) and "bind" not in given:
        given["bind"] = [bind_spec(host or "127.0.0.1", 8000 if port is None else port)]
    if isinstance(ssl_context, tuple):
        given.setdefault("certfile", ssl_context[0])
        if len(ssl_context) > 1:
            given.setdefault("keyfile", ssl_context[1])
        ssl_context = None
    return run(given, app, environ, ssl_context, extra, banner, on_ready)
