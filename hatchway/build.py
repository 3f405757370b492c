"""Which build of hatchway is running: pure Python, or the hot path compiled with mypyc.

The compiled build is the same .py sources turned into C extensions by mypyc (see docs/build.md); an extension
module sits next to its .py in the installed package, and Python's import system prefers the extension. So the
truth is in each imported module's file name, not in a flag written at build time: a wheel that was half
overwritten, or a source tree on sys.path in front of the installed package, shows up here as what it is.

`COMPILED_MODULES` is the one list of modules the compiled build compiles; setup.py reads it from this file
(without importing hatchway), so the list and the report cannot drift apart.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import sys

# The per-request path: parser, policy, framing, body writers, output buffer, gateway, input stream, event loop,
# stall hand-off.  Edit here to change what `HATCHWAY_COMPILE=mypyc pip install .` compiles; every entry must
# import in the pure build too.
COMPILED_MODULES = (
    "hatchway.http.policy",
    "hatchway.http.events",
    "hatchway.http.chunked",
    "hatchway.http.body",
    "hatchway.http.protocol",
    "hatchway.http.response",
    "hatchway.http.bodywriters",
    "hatchway.server.outbuf",
    "hatchway.wsgi.connstates",
    "hatchway.wsgi.gateway",
    "hatchway.wsgi.exchange",
    "hatchway.wsgi.connection",
    "hatchway.wsgi.handler_connection",
    "hatchway.wsgi.environ",
    "hatchway.wsgi.input",
    "hatchway.server.worker",
    "hatchway.server.handoff",
)

PURE = "pure"
MYPYC = "mypyc"
MIXED = "mixed"

_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def module_build(name: str) -> str:
    """'mypyc' if the module `name` is (or would be) loaded from a compiled extension, else 'pure'."""
    module = sys.modules.get(name) or importlib.import_module(name)
    origin = getattr(module, "__file__", None) or ""
    return MYPYC if origin.endswith(_EXTENSION_SUFFIXES) else PURE


def modules() -> dict[str, str]:
    """{module name: 'pure' | 'mypyc'} for every module the compiled build compiles."""
    return {name: module_build(name) for name in COMPILED_MODULES}


def kind() -> str:
    """'pure', 'mypyc' (every hot module compiled) or 'mixed' (some compiled: a broken or partial install)."""
    builds = set(modules().values())
    if builds == {MYPYC}:
        return MYPYC
    return PURE if builds == {PURE} else MIXED


def version() -> str:
    from . import __version__

    return __version__


def tokenizer() -> str:
    """The tokenizer the parser drives: our llhttp binding (compiled build) or httptools (pure build)."""
    try:
        from .http import _tokenizer
    except ImportError:
        import httptools

        return f"httptools {httptools.__version__}"
    return f"llhttp {_tokenizer.LLHTTP_VERSION} binding"


def describe() -> str:
    """One line for `hatchway --version` and bug reports, e.g. 'hatchway 0.1.0 (mypyc build: 7 of 7 hot
    modules compiled), Python 3.11.7'."""
    per_module = modules()
    compiled = [name for name, build in per_module.items() if build == MYPYC]
    build = kind()
    py = ".".join(str(part) for part in sys.version_info[:3])
    if build == PURE:
        what = "pure-Python build"
    elif build == MYPYC:
        what = f"mypyc build: {len(compiled)} of {len(per_module)} hot modules compiled"
    else:
        pure = [name.removeprefix("hatchway.") for name in per_module if name not in compiled]
        what = f"mixed build: {len(compiled)} of {len(per_module)} hot modules compiled; pure: {', '.join(pure)}"
    return f"hatchway {version()} ({what}; {tokenizer()}), Python {py}"


class VersionAction(argparse.Action):
    """`--version`: print describe() and exit.  Lazy, so building the parser imports nothing."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(describe())
        parser.exit()


def main() -> int:
    """`python -m hatchway.build`: the summary line, then each hot module's build and file."""
    print(describe())
    for name, build in modules().items():
        print(f"  {build:5}  {name:28} {sys.modules[name].__file__}")
    if tokenizer().startswith("llhttp"):
        name = "hatchway.http._tokenizer"
        print(f"  {'C':5}  {name:28} {sys.modules[name].__file__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
