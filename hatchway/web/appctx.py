"""``app.app_context()`` and ``app.test_request_context()``.

hatchway.web keeps a single ContextVar for the request on the hot path; an
app context is only needed for work outside a request (scripts, CLI
commands, tests), so it lives in a second ContextVar that the
``current_app`` and ``g`` proxies consult only when no request is active.
"""

from .ctx import RequestGlobals, _cv_app, _cv_request
from .exceptions import HTTPException

__all__ = ["AppContext", "RequestContext", "current_app_or_none", "current_g_or_none"]


def current_app_or_none():
    req = _cv_request.get(None)
    if req is not None:
        return req.app
    ctx = _cv_app.get(None)
    return ctx[0] if ctx is not None else None


def current_g_or_none():
    req = _cv_request.get(None)
    if req is not None:
        return req.g
    ctx = _cv_app.get(None)
    return ctx[1] if ctx is not None else None


class AppContext:
    """Makes ``current_app``, ``g`` and ``url_for`` work outside a request."""

    def __init__(self, app):
        self.app = app
        self.g = RequestGlobals()
        self._tokens = []

    def push(self):
        self._tokens.append(_cv_app.set((self.app, self.g)))

    def pop(self):
        _cv_app.reset(self._tokens.pop())

    def __enter__(self):
        self.push()
        return self

    def __exit__(self, *exc):
        self.pop()


class RequestContext:
    """A request built from test-client arguments, made current (with its app context).

    The rule is matched (so ``request.endpoint`` and ``view_args`` are set,
    as in Flask) but no view or hook runs.
    """

    def __init__(self, app, environ):
        self.app = app
        self.request = app.request_class(environ, app)
        self._app_ctx = AppContext(app)
        self._tokens = []
        try:
            rule, values = app.routes.lookup(self.request.method, self.request.path)
        except HTTPException:
            pass
        else:
            self.request.url_rule = rule
            self.request.view_args = values

    def push(self):
        self._app_ctx.push()
        self._tokens.append(_cv_request.set(self.request))

    def pop(self):
        _cv_request.reset(self._tokens.pop())
        self._app_ctx.pop()

    def __enter__(self):
        self.push()
        return self

    def __exit__(self, *exc):
        self.pop()


def test_request_context(app, path="/", method="GET", *, base_url=None, **kwargs):
    """Build the environ the way the test client does and wrap it in a RequestContext."""
    from .testing import TestClient

    client = TestClient(app, use_cookies=False, base_url=base_url or "http://localhost")
    environ = client._environ(
        path, method, kwargs.pop("json", None), kwargs.pop("data", None), kwargs.pop("headers", None),
        kwargs.pop("query_string", None), kwargs.pop("content_type", None),
        kwargs.pop("environ_overrides", None),
    )
    if kwargs:
        raise TypeError(f"test_request_context() got unexpected argument(s): {', '.join(sorted(kwargs))}")
    return RequestContext(app, environ)
