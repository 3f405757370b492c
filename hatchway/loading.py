"""Finding the application: `module:attr`, `module:factory()`, `module:factory(arg=...)`, `module`."""
from __future__ import annotations

import ast
import importlib
import os
import sys
from typing import Any


class AppLoadError(Exception):
    """The app could not be loaded; the message is one line."""


def load_app(spec: str):
    module_name, _, expr = spec.partition(":")
    if not module_name:
        raise AppLoadError(f"bad application spec {spec!r}: expected module:app")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppLoadError(f"cannot import {module_name!r}: no module named {exc.name!r}") from None
        raise
    if not expr:
        for candidate in ("app", "application"):
            if hasattr(module, candidate):
                return getattr(module, candidate)
        raise AppLoadError(f"module {module_name!r} has no 'app' or 'application'; name one as {module_name}:NAME")
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError:
        raise AppLoadError(f"bad application spec {spec!r}: {expr!r} is not a name or call") from None
    call_args: tuple[list[Any], dict[str, Any]] | None = None
    if isinstance(node, ast.Call):
        try:
            args = [ast.literal_eval(a) for a in node.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
            if len(kwargs) != len(node.keywords):
                raise ValueError("**mapping")
        except ValueError:
            raise AppLoadError(f"bad application spec {spec!r}: factory arguments must be literals") from None
        call_args = (args, kwargs)
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise AppLoadError(f"bad application spec {spec!r}")
    parts.append(node.id)
    obj: Any = module
    for name in reversed(parts):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {'.'.join(reversed(parts))!r}") from None
    if call_args is not None:
        obj = obj(*call_args[0], **call_args[1])
    if not callable(obj):
        raise AppLoadError(f"{spec!r} is not callable (got {type(obj).__name__})")
    return obj
