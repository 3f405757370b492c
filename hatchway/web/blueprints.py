"""Blueprints: groups of routes with their own prefix, hooks and error handlers.

A blueprint records what is declared on it and replays it when registered,
so the same blueprint can be mounted several times (under different names
and prefixes) and nested inside other blueprints. Its hooks and error
handlers apply to the requests routed to its endpoints (and its children's).
"""

from .scaffold import Scaffold, _endpoint_from_view, setupmethod

__all__ = ["Blueprint"]


def _join(prefix, rule):
    if not prefix:
        return rule
    if not rule:
        return prefix
    return prefix.rstrip("/") + "/" + rule.lstrip("/")


class Blueprint(Scaffold):
    def __init__(self, name, import_name=None, url_prefix=None, *, static_folder=None,
                 static_url_path=None, template_folder=None, root_path=None):
        if not name or "." in name:
            raise ValueError(f"blueprint name {name!r} must be non-empty and contain no dots")
        super().__init__(import_name or name, static_folder, static_url_path, template_folder, root_path)
        self.name = name
        self.url_prefix = url_prefix
        self._rules = []
        self._children = []
        self._app_hooks = []
        self._registered = []

    def __repr__(self):
        return f"<Blueprint {self.name!r}>"

    def _check_setup(self, what):
        for app, _full_name in self._registered:
            if app._started:
                app._check_setup(what)
        if self._registered and what in ("add_url_rule", "register_blueprint"):
            raise RuntimeError(
                f"{what}() on blueprint {self.name!r} after it was registered on an app: "
                "declare everything on a blueprint before registering it"
            )

    @setupmethod
    def add_url_rule(self, rule, endpoint=None, view_func=None, methods=None, defaults=None,
                     strict_slashes=True, **options):
        if view_func is None:
            raise TypeError("add_url_rule() needs a view_func")
        if endpoint is None:
            endpoint = _endpoint_from_view(view_func)
        if "." in endpoint:
            raise ValueError(f"blueprint endpoint {endpoint!r} may not contain dots")
        self._rules.append((rule, endpoint, view_func, methods, defaults, strict_slashes, options))

    @setupmethod
    def register_blueprint(self, blueprint, **options):
        """Nest ``blueprint`` inside this one; its names become ``this.child.endpoint``."""
        if blueprint is self:
            raise ValueError("a blueprint cannot be registered on itself")
        self._children.append((blueprint, options))

    # app-wide hooks declared from a blueprint
    def before_app_request(self, func):
        self._app_hooks.append(("before_request", func))
        return func

    def after_app_request(self, func):
        self._app_hooks.append(("after_request", func))
        return func

    def teardown_app_request(self, func):
        self._app_hooks.append(("teardown_request", func))
        return func

    def app_errorhandler(self, code_or_exception):
        def decorator(func):
            self._app_hooks.append(("register_error_handler", code_or_exception, func))
            return func

        return decorator

    # templates declared from a blueprint, for the whole app (as in Flask)
    def app_template_filter(self, name=None):
        return self._app_template("add_template_filter", name)

    def app_template_global(self, name=None):
        return self._app_template("add_template_global", name)

    def app_template_test(self, name=None):
        return self._app_template("add_template_test", name)

    def _app_template(self, method, name):
        def decorator(func):
            self._app_hooks.append((method, func, None if callable(name) else name))
            return func

        return decorator(name) if callable(name) else decorator

    def app_context_processor(self, func):
        self._app_hooks.append(("context_processor", func))
        return func

    def _register(self, app, options, parent_name, parent_prefix, parent_scopes):
        unknown = set(options) - {"url_prefix", "name"}
        if unknown:
            raise TypeError(f"unknown blueprint option(s): {', '.join(sorted(unknown))}")
        name = options.get("name") or self.name
        if "." in name:
            raise ValueError(f"blueprint name {name!r} may not contain dots")
        full_name = f"{parent_name}.{name}" if parent_name else name
        if full_name in app.blueprints:
            same = app.blueprints[full_name] is self
            raise ValueError(
                f"a blueprint named {full_name!r} is already registered"
                + ("; to mount it again pass a different name=" if same else "")
            )
        prefix = options.get("url_prefix", self.url_prefix)
        prefix = _join(parent_prefix, prefix) if prefix else parent_prefix
        app.blueprints[full_name] = self
        self._registered.append((app, full_name))
        scopes = parent_scopes + (self,)
        if self.has_static_folder:
            # Flask's blueprint static route: under the blueprint's prefix.
            self._app_for_config = app
            app._add_rule(
                _join(prefix, f"{self.static_url_path}/<path:filename>"), f"{full_name}.static",
                self.send_static_file, None, None, True, {}, scopes, full_name,
            )
        for rule, endpoint, view, methods, defaults, strict, opts in self._rules:
            app._add_rule(
                _join(prefix, rule), f"{full_name}.{endpoint}", view, methods, defaults,
                strict, opts, scopes, full_name,
            )
        for hook in self._app_hooks:
            getattr(app, hook[0])(*hook[1:])
        for child, child_options in self._children:
            child._register(app, child_options, full_name, prefix, scopes)
