"""The application object.

Per request: ``__call__`` -> ``wsgi_app`` -> ``dispatch`` (route, before
hooks, view) -> ``finalize`` (coerce the return value, after hooks) ->
``Response.__call__``. Each step is a method a subclass may override.

Everything that can be decided before the first request is decided then
(in :meth:`App.startup`): each rule gets a ``_Target`` holding its view and
the exact tuples of hooks and error-handler scopes that apply to it, so the
hot path does no lookups by blueprint name and sends no signals.
"""

import inspect
import logging
import os
import threading
import types
from typing import Any
from urllib.parse import quote

from .appctx import AppContext, test_request_context
from .config import Config
from .ctx import _cv_request
from .filebody import FileBody
from .exceptions import HTTPException, MethodNotAllowed, RequestRedirect
from .jsonutil import _fast as _json_text
from .request import Request
from .response import Response
from .routing import Router, Rule
from .scaffold import Scaffold, _endpoint_from_view, setupmethod, wants_request
from .templating import TemplatingMixin, init_templating
from .formparser import FORM_DEFAULTS
from .handling import ErrorHandling
from .sessions import SESSION_DEFAULTS, SecureCookieSessionInterface, save_request_session
from .typed.serialise import NOT_TYPED as _NOT_TYPED, jsonable as _typed_jsonable

__all__ = ["App"]

_JSON = "application/json"
# Stands for static_folder="static" left at its default (see App.__init__).
_DEFAULT_STATIC = object()
_cv_set = _cv_request.set
_cv_reset = _cv_request.reset
# Route options that only describe the route in the OpenAPI document.
_DOC_OPTIONS = ("responses", "deprecated", "tags", "summary", "description", "include_in_schema", "operation_id")

DEFAULT_CONFIG = {
    "DEBUG": False,
    # Body limits: safe by default, raise them per app or per request.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    "MAX_JSON_SIZE": 1024 * 1024,
    "MAX_JSON_DEPTH": 32,
    "MAX_FORM_FIELDS": 1000,
    # Re-raise unhandled exceptions instead of answering 500 (handy in tests).
    "PROPAGATE_EXCEPTIONS": False,
    # For url_for(_external=True) outside a request.
    "SERVER_NAME": None,
    "PREFERRED_URL_SCHEME": "http",
    "APPLICATION_ROOT": "",
    # Static files and send_file: None sends "Cache-Control: no-cache" (as Flask).
    "SEND_FILE_MAX_AGE_DEFAULT": None,
    "TEMPLATES_AUTO_RELOAD": None,
    # multipart limits (formparser.py) and sessions (sessions.py)
    **FORM_DEFAULTS,
    **SESSION_DEFAULTS,
}


class _Target:
    """What a matched rule dispatches to, with its hooks pre-resolved."""

    __slots__ = (
        "view", "endpoint", "pass_request", "blueprint", "scopes",
        "before", "after", "teardown", "handler_scopes",
    )

    def __init__(self, view, endpoint, pass_request, blueprint, scopes):
        self.view = view
        self.endpoint = endpoint
        self.pass_request = pass_request
        self.blueprint = blueprint
        # Scaffolds whose hooks apply, outermost (the app) first.
        self.scopes = scopes
        self.resolve()

    def resolve(self):
        scopes = self.scopes
        self.before = tuple(f for s in scopes for f in s.before_request_funcs)
        # After and teardown run innermost first, latest registered first (as Flask).
        self.after = tuple(f for s in reversed(scopes) for f in reversed(s.after_request_funcs))
        self.teardown = tuple(f for s in reversed(scopes) for f in reversed(s.teardown_request_funcs))
        self.handler_scopes = tuple(s.error_handlers for s in reversed(scopes) if s.error_handlers)


class _StreamContext:
    """A streamed body that keeps the request current while it is produced.

    Generators returned by views run after ``wsgi_app`` has returned; this
    re-enters the request for each chunk and runs teardown at ``close()``
    (which WSGI servers call when the response is done).
    """

    __slots__ = ("_it", "_body", "_request", "_app", "_error")

    def __init__(self, body, request, app):
        self._body = body
        self._it = iter(body)
        self._request = request
        self._app = app
        self._error = None

    def __iter__(self):
        return self

    def __next__(self):
        token = _cv_set(self._request)
        try:
            return next(self._it)
        except StopIteration:
            raise
        except Exception as e:
            self._error = e
            self._app.logger.error(
                "Exception while streaming %s %s", self._request.method, self._request.path,
                exc_info=e,
            )
            raise
        finally:
            _cv_reset(token)

    def close(self):
        token = _cv_set(self._request)
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            try:
                self._app._do_teardown(self._request, self._error)
            finally:
                if self._request._uploads is not None:
                    self._request.close()
                _cv_reset(token)


class App(ErrorHandling, Scaffold, TemplatingMixin):
    """A WSGI application. ``App(__name__)``, add routes, serve."""

    request_class = Request
    response_class = Response
    #: Where sessions live (sessions.py); replace with your own SessionInterface.
    session_interface = SecureCookieSessionInterface()

    def __init__(self, import_name, *, debug=False, config=None, converters=None,
                 static_url_path=None, static_folder=_DEFAULT_STATIC, template_folder="templates",
                 root_path=None, openapi_url=None, docs_url=None, title=None, version="0.1.0"):
        explicit_static = static_folder is not _DEFAULT_STATIC
        if not explicit_static:
            static_folder = "static"
        super().__init__(import_name, static_folder, static_url_path, template_folder, root_path)
        self.name = import_name
        self.config = Config(self.root_path, DEFAULT_CONFIG)
        self.config["SECRET_KEY_FALLBACKS"] = []  # a list of its own, not the shared default
        if config:
            self.config.update(config)
        if debug:
            self.config["DEBUG"] = True
        self.routes = Router(converters)
        self.blueprints = {}
        self.view_functions = {}
        self.startup_funcs = []
        self.shutdown_funcs = []
        self.logger = logging.getLogger("hatchway.web")
        self._targets = {}
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        # Read on every request; True until startup() has run.
        self._pending_startup = True
        self._static_get = self.routes.static.get
        self._lookup_dynamic = self.routes.lookup_dynamic
        self._app_target: Any = None
        # OpenAPI: per-rule documentation options, and the optional document/docs routes.
        self._route_docs = {}
        self._typed = False
        self.openapi_info = {"title": title or import_name, "version": version}
        if openapi_url or docs_url:
            from .typed.docs import mount_docs

            mount_docs(self, openapi_url, docs_url)
        init_templating(self)
        # As Flask, but the default folder's route exists only if the folder does,
        # so apps without static files keep a route table of their own rules.
        if self.has_static_folder and (explicit_static or os.path.isdir(self.static_folder)):
            self.add_url_rule(f"{self.static_url_path}/<path:filename>", "static", self.send_static_file)

    def __repr__(self):
        return f"<App {self.name!r}>"

    @property
    def url_map(self):
        """Flask-style alias of :attr:`routes`."""
        return self.routes

    @property
    def secret_key(self):
        """Signs the session cookie (``config['SECRET_KEY']``)."""
        return self.config.get("SECRET_KEY")

    @secret_key.setter
    def secret_key(self, value):
        self.config["SECRET_KEY"] = value

    @property
    def debug(self):
        return bool(self.config["DEBUG"])

    @debug.setter
    def debug(self, value):
        self.config["DEBUG"] = bool(value)

    def _check_setup(self, what):
        if self._started:
            raise RuntimeError(
                f"{what}() was called after {self.name!r} started handling requests. "
                "Register routes, hooks, error handlers and blueprints before the first "
                "request (at import time); the route table is compiled once and then frozen."
            )

    # registration
    @setupmethod
    def add_url_rule(self, rule, endpoint=None, view_func=None, methods=None, defaults=None,
                     strict_slashes=True, **options):
        """Bind ``rule`` to ``view_func`` under ``endpoint`` (default: the function's name)."""
        if view_func is None:
            raise TypeError("add_url_rule() needs a view_func")
        if endpoint is None:
            endpoint = _endpoint_from_view(view_func)
        self._add_rule(rule, endpoint, view_func, methods, defaults, strict_slashes, options, (self,), None)

    def _add_rule(self, rule, endpoint, view, methods, defaults, strict_slashes, options, scopes, blueprint):
        doc = None
        if options:
            doc = {k: options[k] for k in _DOC_OPTIONS if k in options}
            options = {k: v for k, v in options.items() if k not in doc}
        if options:
            raise TypeError(f"unknown route option(s): {', '.join(sorted(options))}")
        if methods is None:
            methods = getattr(view, "methods", None) or ("GET",)
        if inspect.iscoroutinefunction(view):
            raise TypeError(f"{view!r} is async; hatchway.web speaks WSGI, so views must be plain functions")
        existing = self.view_functions.get(endpoint)
        if existing is not None and existing is not view:
            raise ValueError(
                f"endpoint {endpoint!r} is already bound to {existing!r}; "
                f"pass a different endpoint= for {view!r}"
            )
        r = Rule(rule, endpoint, methods, defaults, strict_slashes)
        self.routes.add(r)
        if "request" in r.arg_names:
            raise ValueError(f"rule {rule!r}: 'request' is reserved and cannot be a URL variable")
        if getattr(view, "__annotations__", None):
            # Typed views (hatchway.web.typed, imported only when a view is annotated).
            from .typed import check_rule

            check_rule(r, view)
            self._typed = True
        if doc:
            self._route_docs[r] = doc
        self.view_functions[endpoint] = view
        target = self._targets.get(endpoint)
        if target is None:
            target = self._targets[endpoint] = _Target(
                view, endpoint, wants_request(view), blueprint, scopes
            )
        r.payload = target
        return r

    @setupmethod
    def register_blueprint(self, blueprint, **options):
        """Mount ``blueprint``; ``url_prefix=`` and ``name=`` override its own."""
        blueprint._register(self, options, parent_name="", parent_prefix="", parent_scopes=(self,))

    def on_startup(self, func):
        """Run ``func()`` once before serving (see :meth:`startup`)."""
        self._check_setup("on_startup")
        self.startup_funcs.append(func)
        return func

    def on_shutdown(self, func):
        """Run ``func()`` when the app is shut down (see :meth:`shutdown`)."""
        self.shutdown_funcs.append(func)
        return func

    # lifecycle
    def startup(self):
        """Freeze the route table and run startup hooks, once.

        ``run()`` and the test client call this; under another server call it
        after setting up the app. If nobody does, it runs before the first
        request is dispatched.
        """
        with self._lock:
            if self._started:
                return
            self.routes.freeze()
            for target in self._targets.values():
                target.resolve()
            if self._typed:
                from .typed import install_binders

                install_binders(self)
            self._app_target = _Target(None, None, False, None, (self,))
            if self.secret_key and isinstance(self.session_interface, SecureCookieSessionInterface):
                # Fails now, in one line, if itsdangerous is missing.
                self.session_interface.get_signing_serializer(self)
            for func in self.startup_funcs:
                func()
            self._started = True
            self._pending_startup = False

    def shutdown(self):
        """Run shutdown hooks (latest registered first), once. Errors are logged."""
        with self._lock:
            if self._stopped or not self._started:
                return
            self._stopped = True
        for func in reversed(self.shutdown_funcs):
            try:
                func()
            except Exception:
                self.logger.exception("shutdown hook %r failed", func)

    def run(self, host="127.0.0.1", port=8000, debug=None, **options):
        """Serve on hatchway's server until interrupted. ``debug=True`` shows tracebacks.
        ``options`` are hatchway.serve's settings (``workers=2``, ``keep_alive=5``...)."""
        import hatchway

        if debug is not None:
            self.debug = debug
        options.setdefault("threads", 8)
        self.startup()
        try:
            hatchway.serve(self, host=host, port=port, **options)
        finally:
            self.shutdown()

    def app_context(self):
        """``with app.app_context():`` makes current_app, g and url_for work outside a request."""
        return AppContext(self)

    def test_request_context(self, *args, **kwargs):
        """A request context built like the test client builds requests (path, method, headers, ...)."""
        return test_request_context(self, *args, **kwargs)

    def test_client(self, **kwargs):
        from .testing import TestClient

        return TestClient(self, **kwargs)

    # the request path
    def __call__(self, environ, start_response):
        return self.wsgi_app(environ, start_response)

    def wsgi_app(self, environ, start_response):
        if self._pending_startup:
            self.startup()
        request = self.request_class(environ, self)
        token = _cv_set(request)
        streamed = False
        try:
            try:
                response = self.finalize(request, self.dispatch(request))
            except Exception as e:
                response = self.handle_exception(request, e)
            if request._session is not None:
                response = self._save_session(request, response)
            result = response(environ, start_response)
            if type(result) is list or type(response.body) is FileBody:
                # A file needs no request context to be sent; handing the
                # server its file_wrapper untouched lets it use sendfile.
                return result
            streamed = True
            return _StreamContext(result, request, self)
        finally:
            if not streamed:
                rule = request.url_rule
                if (rule.payload if rule is not None else self._app_target).teardown:
                    self._do_teardown(request, getattr(request, "_error", None))
                if request._uploads is not None:
                    request.close()
                request._error = None  # its traceback holds this frame, and so the request: a cycle
            _cv_reset(token)

    def _save_session(self, request, response):
        try:
            save_request_session(self, request, response)
        except Exception as e:
            return self._unhandled(request, e)
        return response

    def dispatch(self, request):
        """Route the request, run before hooks, call the view; return what it returned."""
        rule = None
        leaf = self._static_get(request.path)
        if leaf is not None:
            rule = leaf.get(request.method)
        if rule is not None:
            kwargs = rule.defaults.copy() if rule.defaults else {}
        else:
            try:
                rule, kwargs = self._lookup_dynamic(request.method, request.path)
            except HTTPException as e:
                return self._routing_failed(request, e)
        request.url_rule = rule
        request.view_args = kwargs
        target = rule.payload
        if target.before:
            for func in target.before:
                rv = func()
                if rv is not None:
                    return rv
        if target.pass_request:
            return target.view(request=request, **kwargs)
        return target.view(**kwargs)

    def _routing_failed(self, request, exc):
        # App-level before hooks still run (as in Flask), so auth or logging
        # hooks see 404s and 405s too.
        for func in self._app_target.before:
            rv = func()
            if rv is not None:
                return rv
        if isinstance(exc, MethodNotAllowed) and request.method == "OPTIONS":
            resp = self.response_class(b"", 200)
            resp.headers.set("Allow", ", ".join(exc.valid_methods))
            return resp
        if isinstance(exc, RequestRedirect):
            qs = request.environ.get("QUERY_STRING")
            location = request.script_root + quote(exc.new_url, safe="/:@!$&'()*+,;=-._~")
            raise RequestRedirect(f"{location}?{qs}" if qs else location)
        try:
            raise exc
        finally:
            del exc  # the traceback keeps this frame: frame -> exc -> traceback -> frame, a cycle per 404

    def finalize(self, request, rv):
        """Turn a view's return value into a Response and run after hooks."""
        t = type(rv)
        if t is str:
            response = self.response_class(rv)
        elif t is dict or t is list:
            response = self.response_class(_json_text(rv).encode())
            response._ct = _JSON
        elif isinstance(rv, Response):
            response = rv
        else:
            response = self.make_response(rv)
        rule = request.url_rule
        after = (rule.payload if rule is not None else self._app_target).after
        if after:
            for func in after:
                out = func(response)
                if out is not None:
                    response = out
        return response

    def make_response(self, rv):
        """Coerce any supported view return value into a Response.

        str, bytes, dict/list (JSON), Response, a generator or iterator
        (streamed), a WSGI application, or a tuple ``(body, status)``,
        ``(body, headers)`` or ``(body, status, headers)``.
        """
        status = headers = None
        if type(rv) is tuple:
            n = len(rv)
            if n == 3:
                rv, status, headers = rv
            elif n == 2:
                rv, second = rv
                if isinstance(second, (dict, list)) or hasattr(second, "items"):
                    headers = second
                else:
                    status = second
            else:
                raise TypeError(
                    f"a view returned a {n}-tuple; use (body, status), (body, headers) "
                    "or (body, status, headers)"
                )
        cls = self.response_class
        if isinstance(rv, Response):
            response = rv
            if status is not None:
                response.status = status
        elif isinstance(rv, (str, bytes, bytearray)):
            response = cls(rv, 200 if status is None else status)
        elif isinstance(rv, (dict, list)):
            response = cls.json(rv, 200 if status is None else status)
        elif rv is None:
            raise TypeError(
                "the view did not return a response (it returned None); "
                "return a str, bytes, dict, list, Response or tuple"
            )
        elif isinstance(rv, (types.GeneratorType, types.AsyncGeneratorType)) or hasattr(rv, "__next__"):
            if isinstance(rv, types.AsyncGeneratorType):
                raise TypeError("async generators cannot be streamed over WSGI")
            response = cls(rv, 200 if status is None else status)
        elif (data := _typed_jsonable(rv)) is not _NOT_TYPED:
            response = cls.json(data, 200 if status is None else status)
        elif callable(rv):
            request = _cv_request.get()
            response = cls.from_app(rv, request.environ)
            if status is not None:
                response.status = status
        else:
            raise TypeError(f"a view returned an unsupported type {type(rv).__name__}")
        if headers:
            h = response.headers
            items = headers.items() if hasattr(headers, "items") else headers
            for k, v in items:
                h.set(k, v)
        return response

    def openapi(self):
        """The OpenAPI 3.1 document of this app's routes, as a dict."""
        from .typed.openapi import build_document

        return build_document(self)

    # URLs
    def url_for(self, endpoint, *, _external=False, _anchor=None, _method=None,
                _scheme=None, _request=None, **values):
        """Build a URL for ``endpoint``; unknown values go to the query string.

        ``".name"`` means an endpoint of the current request's blueprint.
        ``_external=True`` gives an absolute URL (from the current request, or
        ``SERVER_NAME`` outside one).
        """
        request = _request if _request is not None else _cv_request.get(None)
        if endpoint.startswith("."):
            bp = request.blueprint if request is not None else None
            endpoint = f"{bp}{endpoint}" if bp else endpoint[1:]
        path = self.routes.build(endpoint, values, _method)
        if request is not None:
            root = request.script_root
        else:
            root = (self.config.get("APPLICATION_ROOT") or "").rstrip("/")
        url = root + path
        if _anchor is not None:
            url += "#" + quote(str(_anchor), safe="/?:@!$&'()*+,;=-._~")
        if _external or _scheme:
            if request is not None:
                scheme = _scheme or request.scheme
                host = request.host
            else:
                host = self.config.get("SERVER_NAME")
                if not host:
                    raise RuntimeError(
                        "url_for(_external=True) outside a request needs config['SERVER_NAME']"
                    )
                scheme = _scheme or self.config.get("PREFERRED_URL_SCHEME", "http")
            url = f"{scheme}://{host}{url}"
        return url

