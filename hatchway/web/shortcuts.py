"""Flask's module-level helpers: ``url_for``, ``make_response``, ``jsonify``.

They work on the current app (the request's, or an app context's). A view
that returns a dict gets hatchway's compact JSON; ``jsonify`` instead
produces exactly Flask's bytes (sorted keys, ASCII-escaped, a trailing
newline), so ported code and its tests see the same output.
"""

import json
from typing import Any

from .appctx import current_app_or_none
from .jsonutil import _default

__all__ = ["url_for", "make_response", "jsonify"]

_flask_json = json.JSONEncoder(
    ensure_ascii=True, sort_keys=True, separators=(",", ":"), default=_default, allow_nan=False
).encode
_flask_json_pretty = json.JSONEncoder(
    ensure_ascii=True, sort_keys=True, indent=2, default=_default, allow_nan=False
).encode


def _app(what):
    app = current_app_or_none()
    if app is None:
        raise RuntimeError(f"{what}() needs a request or an app context (with app.app_context():)")
    return app


def url_for(endpoint, **values):
    """``current_app.url_for(...)``: the URL of ``endpoint`` (see App.url_for)."""
    return _app("url_for").url_for(endpoint, **values)


def make_response(*args):
    """Turn view-style return values into a Response you can change before returning."""
    app = _app("make_response")
    if not args:
        return app.response_class()
    if len(args) == 1:
        args = args[0]
    return app.make_response(args)


def jsonify(*args, **kwargs):
    """A JSON Response of one value, several values (a list) or keyword arguments (an object)."""
    if args and kwargs:
        raise TypeError("jsonify() takes positional or keyword arguments, not both")
    if len(args) == 1:
        data = args[0]
    elif args:
        data = list(args)
    else:
        data = kwargs
    app = current_app_or_none()
    pretty = bool(app is not None and app.config.get("JSONIFY_PRETTYPRINT_REGULAR", False))
    text = (_flask_json_pretty if pretty else _flask_json)(data) + "\n"
    cls: Any = app.response_class if app is not None else None
    if cls is None:
        from .response import Response as cls
    resp = cls(text.encode())
    resp.mimetype = "application/json"
    return resp
