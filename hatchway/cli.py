"""`hatchway serve [module:app] ...` and `python -m hatchway`.

Errors the user can fix (bad app path, port in use, bad option) get one line and exit code 2.
Every option can also come from `HATCHWAY_*` variables and a TOML file (`--config`); TUNABLES below
is the one table of options, and docs/operations.md prints it (see `options_table()`).
"""
from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys

from .loading import AppLoadError, load_app
from .server.config import ServerConfig
from .server.listeners import BindError, make_ssl_context, open_listeners
from .settings import Option, SettingsError, options_table as _table, read_toml, resolve

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"hatchway: error: {message}\n")


class BadValue(argparse.ArgumentTypeError, ValueError):
    """Raised by the value parsers; argparse, the env and the TOML reader all report its message."""


def _number(convert, what, minimum, inclusive):
    """A value parser: `convert(text)` at least (or above) `minimum`, with a one-line message."""
    bound = f">= {minimum}" if inclusive else f"> {minimum}"

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise BadValue(f"expected {what}, got {text!r}") from None
        if value < minimum or (value == minimum and not inclusive):
            raise BadValue(f"expected {'a number' if convert is int else what} {bound}, got {text!r}")
        return value

    return parse


_positive_int = _number(int, "a whole number", 0, inclusive=True)
_seconds = _number(float, "seconds", 0, inclusive=False)
_seconds_or_off = _number(float, "seconds", 0, inclusive=True)  # 0 means off


def _fd(text):
    value = _positive_int(text)
    if value < 3:
        raise BadValue(f"fd {value} is stdin/stdout/stderr, not a socket")
    return value


def _trusted_peers(text):
    """--forwarded-allow-ips: checked while settling, so a typo is one line, not a crash per worker."""
    from .wsgi.proxy import TrustedPeers

    try:
        TrustedPeers(text)
    except ValueError as exc:
        raise BadValue(f"expected addresses, networks, 'unix' or '*': {exc}") from None
    return text


def _path(text):
    if not text.startswith("/"):
        raise BadValue(f"expected a path starting with '/', got {text!r}")
    return text


# The one table of options: flag, dest, type, default, help; config=True marks a ServerConfig field of
# the same name.  The flags, the HATCHWAY_* variables, the TOML keys and the docs all come from here.
_C = ServerConfig
TUNABLES = [
    Option(None, "app", str, None, "module:app or module:factory() (default: the built-in demo)"),
    Option("--bind", "bind", str, ["127.0.0.1:8000"], "HOST:PORT, [::]:PORT, unix:PATH or fd://N; repeatable",
           kind="list", short="-b"),
    Option("--fd", "fd", _fd, [], "serve on an inherited listening socket fd; repeatable", kind="list"),
    Option("--proxy-bind", "proxy_bind", str, [], "like --bind, but connections start with a PROXY protocol "
           "v1/v2 header (required); repeatable", kind="list"),
    Option("--proxy-allow-ips", "proxy_allow_ips", _trusted_peers, _C.proxy_allow_ips,
           "peers allowed to connect to --proxy-bind listeners (their header names the client); others are "
           "dropped", config=True),
    Option("--handler", "handler", str, None, "serve an http.server-style handler class (module:Class, a "
           "hatchway.http.RequestHandler) instead of an app; threads default to 8"),
    Option("--workers", "workers", _positive_int, 0, "worker processes under a supervisor; 0 serves in this "
           "process, without one"),
    Option("--threads", "threads", _positive_int, _C.threads, "app threads per worker (at most this many requests "
           "in the app at once); 0 runs the app inline on the event loop, always", config=True),
    Option("--concurrency", "concurrency", str, _C.concurrency, "with --threads N: auto runs the app inline and "
           "hands the loop to a standby thread when a request stalls; pool hands every request to a thread",
           config=True, choices=("auto", "pool")),
    Option("--reuse-port", "reuse_port", bool, False, "each worker gets its own SO_REUSEPORT socket for TCP binds",
           kind="flag"),
    Option("--reload", "reload", bool, False, "reload on source changes (needs watchfiles); implies a supervisor",
           kind="flag"),
    Option("--reload-dir", "reload_dir", str, [], "directory to watch with --reload (default: the current "
           "one); repeatable", kind="list"),
    Option("--config", "config", str, None, "a TOML file of settings (command line and environment win)"),
    Option("--pid", "pid", str, None, "write the (supervisor's) pid to this file"),
    Option("--user", "user", str, None, "switch to this user after binding (workers, with a supervisor)"),
    Option("--group", "group", str, None, "switch to this group after binding"),
    Option("--access-log", "access_log", str, None, "write the access log to FILE ('-' for stdout)"),
    Option("--error-log", "error_log", str, "-", "write the error log to FILE ('-' for stderr)"),
    Option("--log-level", "log_level", str, "info", "error log level",
           choices=("debug", "info", "warning", "error", "critical")),
    Option("--certfile", "certfile", str, None, "TLS certificate (PEM)"),
    Option("--keyfile", "keyfile", str, None, "TLS private key (PEM)"),
    Option("--server-header", "server_header", str, _C.server_header, "the Server header ('' to omit)",
           config=True),
    Option("--max-connections", "max_connections", _positive_int, _C.max_connections,
           "connections held per worker (idle ones are evicted first)", config=True),
    Option("--backlog", "backlog", _positive_int, _C.backlog, "listen() backlog", config=True),
    Option("--header-timeout", "header_timeout", _seconds, _C.header_timeout,
           "seconds for a whole request head (slowloris guard)", config=True),
    Option("--keep-alive", "keepalive_timeout", _seconds, _C.keepalive_timeout,
           "seconds an idle keep-alive connection is held", config=True),
    Option("--body-timeout", "body_timeout", _seconds, _C.body_timeout,
           "grace seconds before --body-min-rate applies", config=True),
    Option("--body-min-rate", "body_min_rate", _seconds, _C.body_min_rate, "bytes/s a request body must average",
           config=True),
    Option("--write-timeout", "write_timeout", _seconds, _C.write_timeout,
           "seconds without write progress before a slow reader is cut", config=True),
    Option("--graceful-timeout", "graceful_timeout", _seconds, _C.graceful_timeout,
           "seconds a drain waits for in-flight requests before closing them", config=True),
    Option("--drain-delay", "drain_delay", _seconds_or_off, _C.drain_delay,
           "on SIGTERM keep serving (readiness 503) this long before accepting stops", config=True),
    Option("--health-path", "health_path", _path, _C.health_path,
           "readiness path: 200 while serving, 503 while draining", config=True),
    Option("--timeout", "request_timeout", _seconds_or_off, _C.request_timeout,
           "log the stack of a request in the app longer than this (0: off)", config=True),
    Option("--hard-timeout", "hard_timeout", _seconds_or_off, _C.hard_timeout,
           "recycle a worker whose request passed this, once its other requests are done (0: off)", config=True),
    Option("--heartbeat-timeout", "heartbeat_timeout", _seconds, 30.0,
           "a worker whose loop is silent this long is killed (stack dumped) and replaced"),
    Option("--max-requests", "max_requests", _positive_int, _C.max_requests,
           "recycle a worker after this many requests (0: off)", config=True),
    Option("--max-requests-jitter", "max_requests_jitter", _positive_int, _C.max_requests_jitter,
           "add a random 0..N to --max-requests per worker", config=True),
    Option("--max-queue-wait", "max_queue_wait", _seconds_or_off, _C.max_queue_wait,
           "answer 503 to a request that waited longer than this for an app thread (0: off)", config=True),
    Option("--forwarded-allow-ips", "forwarded_allow_ips", _trusted_peers, _C.forwarded_allow_ips,
           "peers whose Forwarded/X-Forwarded-* are applied: addresses, networks, 'unix', or '*'", config=True),
    Option("--forwarded-headers", "forwarded_headers", str, _C.forwarded_headers,
           "which header family the trusted proxies set; the other is stripped even from them",
           choices=("x-forwarded", "forwarded"), config=True),
    Option("--limit-request-line", "max_target_size", _positive_int, _C.max_target_size,
           "max request-target bytes (414)", config=True),
    Option("--limit-request-fields", "max_header_count", _positive_int, _C.max_header_count,
           "max header fields (431)", config=True),
    Option("--limit-request-field-size", "max_header_size", _positive_int, _C.max_header_size,
           "max total head bytes (431)", config=True),
    Option("--max-body-size", "max_body_size", _positive_int, _C.max_body_size, "max request body bytes (413)",
           config=True),
    Option("--max-pipelined", "max_pipelined", _positive_int, _C.max_pipelined,
           "pipelined requests queued per connection", config=True),
]
_OPTIONS = {opt.dest: opt for opt in TUNABLES}


def options_table() -> str:
    """The options table of docs/operations.md (a test keeps the two identical)."""
    return _table(TUNABLES)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hatchway", description="hatchway: a strict, fast WSGI server")
    from .build import VersionAction  # `hatchway --version` names the build (pure or mypyc) that is running
    parser.add_argument("--version", action=VersionAction, help="print the version and build, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = sub.add_parser("serve", help="serve a WSGI application")
    for opt in TUNABLES:
        text = opt.help + ("" if opt.default in (None, [], False) else f" (default {opt.default})")
        if opt.flag is None:
            serve.add_argument(opt.dest, nargs="?", default=None, help=text)
            continue
        names = [opt.short, opt.flag] if opt.short else [opt.flag]
        if opt.kind == "flag":
            # --x / --no-x: a switch set in the environment or the config file can be turned off here.
            serve.add_argument(*names, dest=opt.dest, action=argparse.BooleanOptionalAction, default=None,
                               help=text)
        elif opt.kind == "list":
            serve.add_argument(*names, dest=opt.dest, action="append", type=opt.type, default=None, help=text)
        else:
            serve.add_argument(*names, dest=opt.dest, type=opt.type, default=None, help=text,
                               choices=opt.choices or None)
    return parser


def settle(args, environ=None):
    """Command line > HATCHWAY_* > config file > defaults.  Returns (values, sources)."""
    environ = os.environ if environ is None else environ
    cli = {opt.dest: getattr(args, opt.dest, None) for opt in TUNABLES}
    path = cli.get("config") or environ.get(_OPTIONS["config"].env)
    file_values = read_toml(path, TUNABLES) if path else {}
    return resolve(TUNABLES, cli, environ, file_values)


def server_config(values: dict) -> ServerConfig:
    options = {opt.dest: values[opt.dest] for opt in TUNABLES if opt.config}
    return ServerConfig().updated(access_log=bool(values["access_log"]), **options)


# -- logging -----------------------------------------------------------------------------------------
_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"


def _setup_logging(values) -> None:
    fmt = logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S %z")
    error = logging.getLogger("hatchway")
    error.setLevel(getattr(logging, values["log_level"].upper()))
    path = values["error_log"]
    handler = logging.StreamHandler(sys.stderr) if path == "-" else logging.FileHandler(path)
    handler.setFormatter(fmt)
    error.addHandler(handler)
    access = logging.getLogger("hatchway.access")
    access.propagate = False
    if values["access_log"]:
        path = values["access_log"]
        ah = logging.StreamHandler(sys.stdout) if path == "-" else logging.FileHandler(path)
        ah.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(ah)
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


def _fail(message: str) -> int:
    print(f"hatchway: error: {message}", file=sys.stderr)
    return EXIT_USAGE


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
        return load_app(spec)
    except AppLoadError:
        raise
    except Exception as exc:
        logging.getLogger("hatchway.error").error("importing %s failed", spec, exc_info=exc)
        raise AppLoadError(f"importing {spec!r} failed: {type(exc).__name__}: {exc}") from None


def _load_handler(spec: str):
    """`module:Class` -> a WSGI app running that http.server-style handler class per request."""
    from .wsgi.handler_adapter import HandlerApplication, check_handler_class

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
    reuse = []
    if with_reuse_port:
        kept = []
        for spec in binds:
            kind, value = parse_bind(spec)
            (reuse if kind == "tcp" else kept).append(value if kind == "tcp" else spec)
        binds = kept
    listeners = open_listeners(binds, config.backlog, ctx, reuse_port=values["reuse_port"]) if binds else []
    try:
        proxied = open_listeners(values["proxy_bind"], config.backlog, None) if values["proxy_bind"] else []
    except BaseException:
        for listener in listeners:
            listener.close()
        raise
    return listeners, proxied, reuse


def serve(args, app=None) -> int:
    import signal

    # Until the loop runs, a stop signal simply ends the process cleanly (the loop installs its own).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_during_startup)
    try:
        values, sources = settle(args)
        values["_bind_source"] = sources["bind"]
        config = server_config(values)
    except (SettingsError, TypeError) as exc:
        return _fail(str(exc))
    if values["handler"]:
        if values["app"] or app is not None:
            return _fail("give an application or --handler, not both")
        if sources["threads"] == "default":
            config = config.updated(threads=8)  # handler methods usually block: give them a pool
        if sources["concurrency"] == "default" and config.threads:
            config = config.updated(concurrency="pool")  # ... that never runs them on the loop
    try:
        _setup_logging(values)
    except OSError as exc:
        return _fail(f"cannot open log file: {exc.strerror} ({exc.filename})")
    log = logging.getLogger("hatchway.error")
    from .server.privileges import PrivilegeError, resolve as resolve_ids

    try:
        ids = resolve_ids(values["user"], values["group"])
    except PrivilegeError as exc:
        return _fail(str(exc))
    supervised = values["workers"] > 0 or values["reload"]
    if not supervised:
        for dest, flag in (("hard_timeout", "--hard-timeout"), ("max_requests", "--max-requests")):
            if values[dest]:
                log.warning("%s needs a supervisor to replace the worker (--workers N); it is off", flag)
        config = config.updated(hard_timeout=0.0, max_requests=0)
    ctx = None
    if values["certfile"]:
        try:
            ctx = make_ssl_context(values["certfile"], values["keyfile"])
        except BindError as exc:
            return _fail(str(exc))
    reloader = None
    if values["reload"]:
        from .server.reloader import Reloader, ReloaderUnavailable

        try:
            reloader = Reloader(values["reload_dir"])
        except ReloaderUnavailable as exc:
            return _fail(str(exc))
    try:
        listeners, proxied, reuse = _open(values, config, ctx, supervised and values["reuse_port"])
    except BindError as exc:
        return _fail(str(exc))
    if not listeners and not proxied and not reuse:
        return _fail("nothing to listen on: give --bind, --fd or --proxy-bind")
    scheme = "https" if ctx else "http"
    if supervised:
        return _serve_supervised(values, config, app, listeners, proxied, reuse, ctx, ids, reloader, scheme)
    return _serve_alone(values, config, app, listeners, proxied, ids, scheme)


def _announce(listeners, proxied, scheme, threads, extra=()):
    log = logging.getLogger("hatchway.error")
    from .server.listeners import describe

    for listener in listeners:
        where = listener.name if listener.kind == "unix" else f"{scheme}://{listener.name}"
        log.info("listening on %s (threads=%d)", where, threads)
    for listener in proxied:
        log.info("listening on http://%s with PROXY protocol (threads=%d)", listener.name, threads)
    for address in extra:
        log.info("listening on %s://%s with a SO_REUSEPORT socket per worker (threads=%d)", scheme,
                 describe(address), threads)


def _serve_alone(values, config, app, listeners, proxied, ids, scheme) -> int:
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
        return _fail(str(exc))
    pidfile = PidFile(values["pid"]) if values["pid"] else None
    if pidfile is not None:
        pidfile.write()
    lifecycle = Lifecycle(config, reopen_logs=reopen_logs)
    srv = WSGIServer(everything, app, config, state=lifecycle.state, proxy_protocol=proxied)
    lifecycle.attach(srv.worker)
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
                         proxy_protocol=[l for l in worker_listeners if id(l) in proxied_ids])
        lifecycle.attach(srv.worker)
        lifecycle.install_signals()
        lifecycle.run(srv)
        return 0

    workers = max(1, values["workers"])
    try:
        sup = Supervisor(listeners + proxied, child_main, workers=workers, graceful_timeout=config.graceful_timeout,
                         drain_delay=config.drain_delay, heartbeat_timeout=values["heartbeat_timeout"],
                         reuse_port=reuse, backlog=config.backlog, ssl_context=ctx,
                         pidfile=PidFile(values["pid"]) if values["pid"] else None, reloader=reloader,
                         reopen_logs=reopen_logs)
    except BindError as exc:
        for listener in listeners + proxied:
            listener.close()
        return _fail(str(exc))
    _announce(listeners, proxied, scheme, config.threads, sup._reuse)
    try:
        return sup.run()
    except BootError as exc:
        return _fail(str(exc))


def main(argv=None, app=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("serve", "-h", "--help", "--version"):
        argv = ["serve", *argv]  # `hatchway module:app` is `hatchway serve module:app`
    args = parser.parse_args(argv)
    try:
        return serve(args, app)
    except KeyboardInterrupt:
        return 0
