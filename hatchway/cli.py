"""`hatchway serve [module:app] ...` and `python -m hatchway`.

Errors the user can fix (bad app path, port in use, bad option) get one line and exit code 2.
"""
from __future__ import annotations

import argparse
import logging
import sys

from .loading import AppLoadError, load_app
from .server.config import ServerConfig
from .server.listeners import BindError, make_ssl_context, open_listeners

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"hatchway: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


# CLI flag -> (ServerConfig field, type, help).  One table, so the flags and the config never drift.
TUNABLES = [
    ("--max-connections", "max_connections", _positive_int, "connections held per worker (idle ones are evicted first)"),
    ("--backlog", "backlog", _positive_int, "listen() backlog"),
    ("--header-timeout", "header_timeout", _seconds, "seconds for a whole request head (slowloris guard)"),
    ("--keep-alive", "keepalive_timeout", _seconds, "seconds an idle keep-alive connection is held"),
    ("--body-timeout", "body_timeout", _seconds, "grace seconds before --body-min-rate applies"),
    ("--body-min-rate", "body_min_rate", _seconds, "bytes/s a request body must average"),
    ("--write-timeout", "write_timeout", _seconds, "seconds without write progress before a slow reader is cut"),
    ("--graceful-timeout", "graceful_timeout", _seconds, "seconds shutdown waits for in-flight requests"),
    ("--limit-request-line", "max_target_size", _positive_int, "max request-target bytes (414)"),
    ("--limit-request-fields", "max_header_count", _positive_int, "max header fields (431)"),
    ("--limit-request-field-size", "max_header_size", _positive_int, "max total head bytes (431)"),
    ("--max-body-size", "max_body_size", _positive_int, "max request body bytes (413)"),
    ("--max-pipelined", "max_pipelined", _positive_int, "pipelined requests queued per connection"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hatchway", description="hatchway: a strict, fast WSGI server")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = sub.add_parser("serve", help="serve a WSGI application")
    serve.add_argument("app", nargs="?", help="module:app or module:factory() (default: the built-in demo)")
    serve.add_argument("-b", "--bind", action="append", metavar="ADDR",
                       help="HOST:PORT, [::]:PORT, unix:PATH or fd://N; repeatable (default 127.0.0.1:8000)")
    serve.add_argument("--threads", type=_positive_int, default=0,
                       help="app threads per worker; 0 runs the app inline on the event loop (default 0)")
    serve.add_argument("--access-log", metavar="FILE", help="write the access log to FILE ('-' for stdout)")
    serve.add_argument("--error-log", metavar="FILE", default="-", help="write the error log to FILE ('-' for stderr)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error", "critical"])
    serve.add_argument("--certfile", help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument("--server-header", default="hatchway", help="the Server header ('' to omit)")
    for flag, field, typ, text in TUNABLES:
        default = getattr(ServerConfig, field)
        serve.add_argument(flag, dest=field, type=typ, default=None, help=f"{text} (default {default})")
    return parser


def _setup_logging(args) -> None:
    fmt = logging.Formatter("[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S %z")
    error = logging.getLogger("hatchway")
    error.setLevel(getattr(logging, args.log_level.upper()))
    handler = logging.StreamHandler(sys.stderr) if args.error_log == "-" else logging.FileHandler(args.error_log)
    handler.setFormatter(fmt)
    error.addHandler(handler)
    access = logging.getLogger("hatchway.access")
    access.propagate = False
    if args.access_log:
        ah = logging.StreamHandler(sys.stdout) if args.access_log == "-" else logging.FileHandler(args.access_log)
        ah.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(ah)
        access.setLevel(logging.INFO)


def _fail(message: str) -> int:
    print(f"hatchway: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _stop_during_startup(signum, frame):
    raise SystemExit(0)


def serve(args, app=None) -> int:
    import signal

    # Until the loop runs, a stop signal simply ends the process cleanly (the loop installs its own).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_during_startup)
    from .wsgi.serving import WSGIServer, serve_until_signalled

    options = {field: getattr(args, field) for _, field, _, _ in TUNABLES if getattr(args, field) is not None}
    config = ServerConfig().updated(threads=args.threads, access_log=bool(args.access_log),
                                    server_header=args.server_header, **options)
    try:
        _setup_logging(args)
    except OSError as exc:
        return _fail(f"cannot open log file: {exc.strerror} ({exc.filename})")
    if app is None:
        if args.app:
            try:
                app = load_app(args.app)
            except AppLoadError as exc:
                return _fail(str(exc))
            except Exception as exc:
                logging.getLogger("hatchway.error").error("importing %s failed", args.app, exc_info=exc)
                return _fail(f"importing {args.app!r} failed: {type(exc).__name__}: {exc}")
        else:
            from .demo import app
    ctx = None
    if args.certfile:
        try:
            ctx = make_ssl_context(args.certfile, args.keyfile)
        except BindError as exc:
            return _fail(str(exc))
    try:
        listeners = open_listeners(args.bind or ["127.0.0.1:8000"], config.backlog, ctx)
    except BindError as exc:
        return _fail(str(exc))
    srv = WSGIServer(listeners, app, config)
    log = logging.getLogger("hatchway.error")
    for listener in listeners:
        scheme = "https" if ctx else "http"
        where = listener.name if listener.kind == "unix" else f"{scheme}://{listener.name}"
        log.info("listening on %s (threads=%d)", where, config.threads)
    serve_until_signalled(srv)
    log.info("stopped")
    return 0


def main(argv=None, app=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("serve", "-h", "--help"):
        argv = ["serve", *argv]  # `hatchway module:app` is `hatchway serve module:app`
    args = parser.parse_args(argv)
    try:
        return serve(args, app)
    except KeyboardInterrupt:
        return 0
