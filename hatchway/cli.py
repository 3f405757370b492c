"""`hatchway COMMAND ...` and `python -m hatchway`: a thin argument parser over the library.

`serve` turns its flags into settings and calls hatchway.launch.run, the path `hatchway.serve()`,
run_simple and App.run take too; the option table lives in hatchway.options.  Errors the user can
fix (bad app path, port in use, bad option, unknown HATCHWAY_* variable) get one line and exit 2.

Adding a subcommand is a few lines:

    @command("routes", "list the application's URL rules", [(("app",), {"help": "module:app"})])
    def _routes(args) -> int:
        app = load_application(args.app)   # one-line errors for a bad spec
        ...
        return 0
"""
from __future__ import annotations

import argparse
import sys

from .launch import StartupError, reopen_logs, run as _run  # noqa: F401  (reopen_logs: public)
from .launch import _setup_logging  # noqa: F401  (tests and embedders set up logging the CLI's way)
from .options import TUNABLES, options_table, server_config  # noqa: F401  (the table's old home)
from .options import settle as _settle

EXIT_USAGE = 2
COMMANDS: dict = {}  # name -> (help, arguments, function)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"hatchway: error: {message}\n")


class CommandError(Exception):
    """A subcommand's one-line error (exit 2)."""


def command(name: str, help: str, arguments=()):
    """Register `hatchway NAME`.  `arguments`: ((flags...), argparse kwargs) pairs.  The function
    gets the parsed namespace and returns the exit code; CommandError/StartupError are one line."""
    def register(fn):
        COMMANDS[name] = (help, list(arguments), fn)
        return fn

    return register


def load_application(spec: str | None):
    """The app named by `spec` (module:app, a .py path, or None for the demo), or CommandError."""
    from .launch import _load
    from .loading import AppLoadError

    try:
        return _load(spec, None)
    except AppLoadError as exc:
        raise CommandError(str(exc)) from None


def _add_option(parser, opt) -> None:
    shown = opt.default not in (None, [], False, "")
    text = opt.help + (f" (default: {', '.join(opt.default) if isinstance(opt.default, list) else opt.default})"
                       if shown else "")
    if opt.flag is None:
        parser.add_argument(opt.dest, nargs="?", default=None, help=text)
        return
    names = ([opt.short] if opt.short else []) + [opt.flag, *opt.aliases]
    metavar = opt.flag[2:].upper().replace("-", "_")
    if opt.kind == "flag":
        # --x / --no-x: a switch set in the environment or the config file can be turned off here.
        parser.add_argument(*names, dest=opt.dest, action=argparse.BooleanOptionalAction, default=None, help=text)
    elif opt.kind == "list":
        parser.add_argument(*names, dest=opt.dest, action="append", type=opt.type, default=None, help=text,
                            metavar=metavar)
    else:
        parser.add_argument(*names, dest=opt.dest, type=opt.type, default=None, help=text,
                            choices=opt.choices or None, metavar=None if opt.choices else metavar)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hatchway", description="hatchway: a strict, fast WSGI server. Every option can also "
                     "be set as HATCHWAY_<FLAG> (--keep-alive: HATCHWAY_KEEP_ALIVE) or in a TOML file (-c).")
    from .build import VersionAction  # `hatchway --version` names the build (pure or mypyc) that is running
    parser.add_argument("-v", "--version", action=VersionAction, help="print the version and build, then exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = sub.add_parser("serve", help="serve a WSGI application")
    for opt in TUNABLES:
        _add_option(serve, opt)
    for name, (text, arguments, _fn) in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text)
        for flags, kwargs in arguments:
            p.add_argument(*flags, **kwargs)
    return parser


def settle(args, environ=None):
    """The settings of a parsed `serve` command line: (values, sources)."""
    return _settle({opt.dest: getattr(args, opt.dest, None) for opt in TUNABLES}, environ)


def _fail(message: str) -> int:
    print(f"hatchway: error: {message}", file=sys.stderr)
    return EXIT_USAGE


@command("openapi", "print the OpenAPI 3.1 document of a hatchway.web App",
         [(("app",), {"help": "module:app, as for serve"})])
def _openapi(args) -> int:
    import json

    app = load_application(args.app)
    if not callable(getattr(app, "openapi", None)) or not hasattr(app, "routes"):
        raise CommandError(f"{args.app!r} is not a hatchway.web App")
    try:
        document = app.openapi()
    except Exception as exc:
        raise CommandError(f"cannot describe {args.app!r}: {type(exc).__name__}: {exc}") from None
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0


@command("routes", "list a hatchway.web app's routes, or explain how a path routes",
         [(("app",), {"metavar": "MODULE:APP", "help": "the hatchway.web App, as for serve"}),
          (("--explain",), {"metavar": "PATH", "default": None, "help": "show how PATH is routed, rule by rule"}),
          (("--method",), {"default": "GET", "help": "method for --explain (default GET)"})])
def _routes(args) -> int:
    from .commands import routes

    return routes(args)


def main(argv=None, app=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if argv[0] not in ("serve", "-h", "--help", "-v", "--version", *COMMANDS):
        argv = ["serve", *argv]  # `hatchway module:app` is `hatchway serve module:app`
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _run({opt.dest: getattr(args, opt.dest, None) for opt in TUNABLES}, app)
        return COMMANDS[args.command][2](args)
    except (StartupError, CommandError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 0
