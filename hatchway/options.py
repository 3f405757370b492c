"""The one table of options and how a run's settings are settled from it.

Every setting has one name (its `dest`, also a ServerConfig field when config=True), one flag, one
environment variable spelt like the flag (`--keep-alive` is HATCHWAY_KEEP_ALIVE) and one TOML key.
The CLI (`hatchway.cli`), `hatchway.serve()`, `run_simple` and `App.run` all settle through
`settle()` here: command line (or keyword arguments) > HATCHWAY_* > config file > default.
"""
from __future__ import annotations

import argparse
import os

from .server.config import ServerConfig
from .settings import ENV_PREFIX, Option, SettingsError, options_table as _table, read_toml, resolve


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


def _bind(text):
    """A bare port is 127.0.0.1:PORT (loopback, like the default).  gunicorn would read it as a host
    name and listen on 0.0.70.103:8000 for `18023`; nobody means that."""
    text = text.strip()
    if text.isdigit():
        port = int(text)
        if port > 65535:
            raise BadValue(f"port {port} is above 65535")
        return f"127.0.0.1:{port}"
    return text


def _bind_one(text):
    value = _bind(text)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BadValue(f"expected HOST:PORT or PORT, got {text!r}")
    return value


def _log_format(text):
    from .wsgi.logformat import compile_format

    try:
        compile_format(text)
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    return text


def _path(text):
    if not text.startswith("/"):
        raise BadValue(f"expected a path starting with '/', got {text!r}")
    return text


# The one table of options: flag, dest, type, default, help; config=True marks a ServerConfig field of
# the same name.  The flags, the HATCHWAY_* variables, the TOML keys and the docs all come from here.
_C = ServerConfig
TUNABLES = [
    Option(None, "app", str, None, "module:app, module:factory(), or a file path/app.py[:app] "
           "(default: the built-in demo)"),
    Option("--bind", "bind", _bind, ["127.0.0.1:8000"], "HOST:PORT, [::]:PORT, unix:PATH or fd://N; a bare PORT "
           "means 127.0.0.1:PORT; repeatable", kind="list", short="-b"),
    Option("--fd", "fd", _fd, [], "serve on an inherited listening socket fd; repeatable", kind="list"),
    Option("--proxy-bind", "proxy_bind", str, [], "like --bind, but connections start with a PROXY protocol "
           "v1/v2 header (required); repeatable", kind="list"),
    Option("--proxy-allow-ips", "proxy_allow_ips", _trusted_peers, _C.proxy_allow_ips,
           "peers allowed to connect to --proxy-bind listeners (their header names the client); others are "
           "dropped", config=True),
    Option("--handler", "handler", str, None, "serve an http.server-style handler class (module:Class, a "
           "hatchway.http.RequestHandler) instead of an app; threads default to 8"),
    Option("--workers", "workers", _positive_int, 0, "worker processes under a supervisor; 0 serves in this "
           "process, without one", short="-w"),
    Option("--threads", "threads", _positive_int, _C.threads, "app threads per worker (at most this many requests "
           "in the app at once); 0 runs the app inline on the event loop, always", config=True),
    Option("--concurrency", "concurrency", str, _C.concurrency, "with --threads N: auto runs the app inline and "
           "hands the loop to a standby thread when a request stalls; pool hands every request to a thread",
           config=True, choices=("auto", "pool")),
    Option("--stall-interval", "stall_interval", _seconds, _C.stall_interval, "with --concurrency auto: seconds "
           "an inline request may run before the loop is handed to a standby (the monitor checks this often)",
           config=True),
    Option("--reuse-port", "reuse_port", bool, False, "each worker gets its own SO_REUSEPORT socket for TCP binds",
           kind="flag"),
    Option("--reload", "reload", bool, False, "reload on source changes (needs watchfiles); implies a supervisor",
           kind="flag"),
    Option("--reload-dir", "reload_dir", str, [], "directory to watch with --reload (default: the current "
           "one); repeatable", kind="list"),
    Option("--config", "config", str, None, "a TOML file of settings (command line and environment win)",
           short="-c"),
    Option("--pid", "pid", str, None, "write the (supervisor's) pid to this file"),
    Option("--user", "user", str, None, "switch to this user after binding (workers, with a supervisor)"),
    Option("--group", "group", str, None, "switch to this group after binding"),
    Option("--access-log", "access_log", str, None, "write the access log to FILE ('-' for stdout)"),
    Option("--access-log-format", "access_log_format", _log_format, _C.access_log_format,
           "'combined', 'json' (one object per line) or a template of {field}s (docs/operations.md)",
           config=True),
    Option("--request-id", "request_id", bool, _C.request_id, "take X-Request-ID from a trusted proxy "
           "(--forwarded-allow-ips) or make one; in the environ as HTTP_X_REQUEST_ID, echoed in the response",
           kind="flag", config=True),
    Option("--server-timing", "server_timing", bool, _C.server_timing,
           "add Server-Timing: queue;dur=..., app;dur=... to every response", kind="flag", config=True),
    Option("--metrics-bind", "metrics_bind", _bind_one, None, "serve Prometheus /metrics on HOST:PORT from the "
           "supervisor, summed across workers"),
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
           "log the stack of a request in the app longer than this (0: off); not gunicorn's --timeout, "
           "which is -t here", config=True),
    Option("--hard-timeout", "hard_timeout", _seconds_or_off, _C.hard_timeout,
           "recycle a worker whose request passed this, once its other requests are done (0: off)", config=True),
    Option("--heartbeat-timeout", "heartbeat_timeout", _seconds, 30.0,
           "the watchdog: a worker whose loop is silent this long is killed (stack dumped) and replaced; "
           "-t like gunicorn's -t/--timeout", short="-t"),
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
    Option("--limit-request-field-size", "max_field_size", _positive_int, _C.max_field_size,
           "max bytes of one header field, name and value, as gunicorn's --limit-request-field_size "
           "(431; 0: only the head limit)", config=True, aliases=("--limit-request-field_size",)),
    Option("--limit-request-head-size", "max_header_size", _positive_int, _C.max_header_size,
           "max bytes of the whole request head (431)", config=True),
    Option("--max-body-size", "max_body_size", _positive_int, _C.max_body_size, "max request body bytes (413)",
           config=True),
    Option("--max-pipelined", "max_pipelined", _positive_int, _C.max_pipelined,
           "pipelined requests queued per connection", config=True),
]
_OPTIONS = {opt.dest: opt for opt in TUNABLES}
# Set by hatchway itself between its own processes, not by the operator.
# Read by the reloader handshake, and by the build (pip install) rather than by the server: a shell that
# exported HATCHWAY_COMPILE for `pip install .` must still be able to serve.
INTERNAL_ENV = frozenset({"HATCHWAY_RELOAD_FD", "HATCHWAY_RELOAD_READY", "HATCHWAY_COMPILE"})
# Spelt after the setting instead of the flag before the names were aligned; still read, with a warning.
OLD_ENV = {opt.old_env: opt for opt in TUNABLES if opt.old_env != opt.env}
KNOWN_ENV = frozenset({opt.env for opt in TUNABLES} | set(OLD_ENV) | INTERNAL_ENV)


def options_table() -> str:
    """The options table of docs/operations.md (a test keeps the two identical)."""
    return _table(TUNABLES)


def check_environ(environ) -> list[str]:
    """A HATCHWAY_* name that no option has is a typo: refuse it (HATCHWAY_THREDS must not be
    silently ignored).  Returns deprecation warnings for the old spellings."""
    warnings = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in KNOWN_ENV:
            continue
        raise SettingsError(f"unknown environment variable {name}" + _suggest(name))
    for name, opt in OLD_ENV.items():
        if name in environ:
            if opt.env in environ:
                raise SettingsError(f"both {opt.env} and its old name {name} are set; keep {opt.env}")
            warnings.append(f"environment variable {name} is deprecated: call it {opt.env}")
    return warnings


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted({opt.env for opt in TUNABLES}), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_view(environ) -> dict:
    """environ with the old names mapped onto the new ones."""
    view = {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    for name, opt in OLD_ENV.items():
        if name in view:
            view[opt.env] = view.pop(name)
    return view


def settle(given: dict, environ=None):
    """Settle every option: `given` (the command line or keyword arguments, None meaning not given)
    > HATCHWAY_* > the config file > the default.  Returns (values, sources); values["_warnings"]
    holds lines for the error log (deprecated names)."""
    environ = os.environ if environ is None else environ
    warnings = check_environ(environ)
    env = _env_view(environ)
    path = given.get("config") or env.get(_OPTIONS["config"].env)
    file_values = read_toml(path, TUNABLES) if path else {}
    values, sources = resolve(TUNABLES, given, env, file_values)
    values["_warnings"] = warnings
    return values, sources


def server_config(values: dict) -> ServerConfig:
    options = {opt.dest: values[opt.dest] for opt in TUNABLES if opt.config}
    return ServerConfig().updated(access_log=bool(values["access_log"]), metrics=bool(values["metrics_bind"]),
                                  **options)


def from_keywords(settings: dict) -> dict:
    """Keyword arguments of `hatchway.serve()` by dest.  A setting may be named as its dest
    (`keepalive_timeout`) or its flag (`keep_alive`); a single value is fine for a list option."""
    by_name: dict[str, Option] = {}
    for known in TUNABLES:
        by_name[known.dest] = known
        if known.flag:
            by_name[known.flag[2:].replace("-", "_")] = known
    out = {}
    for name, value in settings.items():
        opt = by_name.get(name)
        if opt is None:
            raise TypeError(f"unknown setting {name!r} (see `hatchway serve --help`)")
        if value is None:
            continue
        if opt.kind == "list":
            items = [value] if isinstance(value, (str, int)) else list(value)
            value = [opt.type(str(item)) if isinstance(item, (str, int)) else item for item in items]
        elif opt.kind != "flag" and isinstance(value, str) and opt.type is not str:
            value = opt.type(value)
        elif opt.choices and value not in opt.choices:
            raise ValueError(f"{name}: expected one of {', '.join(opt.choices)}, got {value!r}")
        out[opt.dest] = value
    return out
