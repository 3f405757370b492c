"""What App and Blueprint share: route decorators, hooks, error handlers."""

import inspect
from collections.abc import Callable
from typing import Any

from .exceptions import HTTPException, exception_for
from .static import Folders

__all__ = ["Scaffold", "setupmethod"]


def setupmethod(func):
    """Guard registration methods: they fail once the app serves requests."""

    def wrapper(self, *args, **kwargs):
        self._check_setup(func.__name__)
        return func(self, *args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__qualname__ = func.__qualname__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _endpoint_from_view(view):
    name = getattr(view, "__name__", None)
    if not name:
        raise ValueError(f"cannot derive an endpoint name from {view!r}; pass endpoint=")
    return name


def wants_request(view):
    """True if ``view`` declares a parameter named ``request``."""
    try:
        params = inspect.signature(view).parameters
    except (TypeError, ValueError):
        return False
    return "request" in params


def error_key(code_or_exception):
    """-> (code or None, exception class) for errorhandler registration."""
    if isinstance(code_or_exception, int):
        return code_or_exception, exception_for(code_or_exception)
    if isinstance(code_or_exception, type) and issubclass(code_or_exception, BaseException):
        if issubclass(code_or_exception, HTTPException) and code_or_exception is not HTTPException:
            return code_or_exception.code, code_or_exception
        return None, code_or_exception
    raise TypeError(f"errorhandler takes a status code or an exception class, not {code_or_exception!r}")


class Scaffold(Folders):
    # Each subclass (App, Blueprint) registers rules its own way.
    add_url_rule: Callable[..., Any]

    def __init__(self, import_name, static_folder=None, static_url_path=None, template_folder=None,
                 root_path=None):
        self.import_name = import_name
        self._init_folders(import_name, static_folder, static_url_path, template_folder, root_path)
        self.before_request_funcs = []
        self.after_request_funcs = []
        self.teardown_request_funcs = []
        # code or None -> {exception class: handler}
        self.error_handlers = {}

    def _check_setup(self, what):  # overridden
        pass

    # routes
    def route(self, rule, methods=None, endpoint=None, **options):
        """Decorator form of :meth:`add_url_rule`."""

        def decorator(view):
            self.add_url_rule(rule, endpoint, view, methods=methods, **options)
            return view

        return decorator

    def get(self, rule, **options):
        return self._method_route("GET", rule, options)

    def post(self, rule, **options):
        return self._method_route("POST", rule, options)

    def put(self, rule, **options):
        return self._method_route("PUT", rule, options)

    def patch(self, rule, **options):
        return self._method_route("PATCH", rule, options)

    def delete(self, rule, **options):
        return self._method_route("DELETE", rule, options)

    def _method_route(self, method, rule, options):
        if "methods" in options:
            raise TypeError("use route() to pass methods; get/post/... fix the method")
        return self.route(rule, methods=[method], **options)

    # hooks
    @setupmethod
    def before_request(self, func):
        """Run ``func()`` before each view; a non-None return is the response."""
        self.before_request_funcs.append(func)
        return func

    @setupmethod
    def after_request(self, func):
        """Run ``func(response)`` after each view; it returns the response to send."""
        self.after_request_funcs.append(func)
        return func

    @setupmethod
    def teardown_request(self, func):
        """Run ``func(exc_or_None)`` when the request ends, whatever happened."""
        self.teardown_request_funcs.append(func)
        return func

    @setupmethod
    def errorhandler(self, code_or_exception):
        """Register ``func(exc)`` for a status code or an exception class."""

        def decorator(func):
            self.register_error_handler(code_or_exception, func)
            return func

        return decorator

    @setupmethod
    def register_error_handler(self, code_or_exception, func):
        code, cls = error_key(code_or_exception)
        self.error_handlers.setdefault(code, {})[cls] = func
