"""The current request, reachable from anywhere while it is being handled.

A ContextVar holds the Request; ``request`` and ``g`` are thin proxies that
look it up on each attribute access. Views that want to skip that lookup can
declare a ``request`` parameter and get the object passed in directly.

Threads do not inherit context variables. A view that starts a thread wraps
the target with :func:`copy_current_request_context` (or starts it with
:func:`start_thread`), which runs it inside a copy of the current context.
"""

import contextvars
import functools
import threading

__all__ = [
    "request", "g", "has_request_context", "copy_current_request_context",
    "start_thread", "current_app",
]

_cv_request: contextvars.ContextVar = contextvars.ContextVar("hatchway.web.request")


class _NoContext(RuntimeError):
    pass


def _current():
    try:
        return _cv_request.get()
    except LookupError:
        raise _NoContext(
            "Working outside of a request. `hatchway.web.request` is only "
            "available while a request is handled; in a thread started by a "
            "view use copy_current_request_context() or start_thread()."
        ) from None


class _Proxy:
    """Forwards attribute access to an object found at access time."""

    __slots__ = ("_hw_get",)

    def __init__(self, get):
        object.__setattr__(self, "_hw_get", get)

    def __getattr__(self, name):
        return getattr(self._hw_get(), name)

    def __setattr__(self, name, value):
        setattr(self._hw_get(), name, value)

    def __delattr__(self, name):
        delattr(self._hw_get(), name)

    def __contains__(self, item):
        return item in self._hw_get()

    def __iter__(self):
        return iter(self._hw_get())

    def __bool__(self):
        try:
            self._hw_get()
        except _NoContext:
            return False
        return True

    def __eq__(self, other):
        return self._hw_get() == other

    def __hash__(self):
        return hash(self._hw_get())

    def __repr__(self):
        try:
            return repr(self._hw_get())
        except _NoContext:
            return "<unbound proxy>"

    def _get_current_object(self):
        return self._hw_get()


# The app context (``with app.app_context():``): (app, g) outside a request.
_cv_app: contextvars.ContextVar = contextvars.ContextVar("hatchway.web.app")


def _current_g():
    req = _cv_request.get(None)
    if req is not None:
        return req.g
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx[1]
    return _current().g


def _current_app():
    req = _cv_request.get(None)
    if req is not None:
        return req.app
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx[0]
    return _current().app


request = _Proxy(_current)
g = _Proxy(_current_g)
current_app = _Proxy(_current_app)


class RequestGlobals:
    """Per-request scratch space (``g``): set any attribute you like."""

    def get(self, name, default=None):
        return self.__dict__.get(name, default)

    def pop(self, name, *default):
        return self.__dict__.pop(name, *default)

    def setdefault(self, name, default=None):
        return self.__dict__.setdefault(name, default)

    def __contains__(self, name):
        return name in self.__dict__

    def __iter__(self):
        return iter(self.__dict__)

    def __repr__(self):
        return f"<g {self.__dict__!r}>"


def has_request_context():
    return _cv_request.get(None) is not None


def copy_current_request_context(func):
    """Wrap ``func`` to run with the request context of the caller.

    Use it for threads a view starts::

        @app.post("/jobs")
        def start_job():
            @copy_current_request_context
            def work():
                log(request.path)       # the request that started the job
            threading.Thread(target=work).start()

    The request object stays valid, but its body may already be consumed and
    teardown hooks may have run by the time the thread gets to it.
    """
    ctx = contextvars.copy_context()
    if ctx.get(_cv_request, None) is None:
        raise RuntimeError("copy_current_request_context() needs an active request")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        # A Context can be entered by one thread at a time; copy per call.
        return ctx.copy().run(func, *args, **kwargs)

    return wrapper


def start_thread(target, *args, daemon=True, name=None, **kwargs):
    """Start ``target(*args, **kwargs)`` in a thread that sees this request."""
    t = threading.Thread(
        target=copy_current_request_context(target), args=args, kwargs=kwargs,
        daemon=daemon, name=name,
    )
    t.start()
    return t
