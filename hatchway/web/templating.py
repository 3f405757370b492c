"""Jinja2 templates: ``render_template``, ``render_template_string``, ``stream_template``.

Jinja2 is the optional ``templates`` extra and is imported only when the
first template is rendered, so apps without templates never pay for it.
Each app builds one Environment, on first use. Templates are looked up in
the app's ``template_folder``, then in each blueprint's, in registration
order (as Flask's loader does). Autoescaping is on for ``.html``, ``.htm``,
``.xml``, ``.xhtml`` and ``.svg`` files and for template strings.

Inside templates: ``url_for``, ``get_flashed_messages``, ``config``,
``request``, ``session`` and ``g``, plus what context processors return.
``session`` and ``get_flashed_messages`` come from sessions.py.
"""

import os
import threading
from typing import Any

from .ctx import _cv_request
from .sessions import get_flashed_messages, session

__all__ = ["render_template", "render_template_string", "stream_template", "stream_template_string",
           "TemplatesNotInstalled", "TemplatingMixin"]

_AUTOESCAPE_EXT = (".html", ".htm", ".xml", ".xhtml", ".svg")
_MISSING_EXTRA = "Jinja2 is not installed; templates need the extra: pip install 'hatchway[templates]'"


class TemplatesNotInstalled(RuntimeError):
    """Raised by the render functions when Jinja2 cannot be imported."""


def _jinja2():
    try:
        import jinja2
    except ImportError:
        raise TemplatesNotInstalled(_MISSING_EXTRA) from None
    return jinja2


def select_autoescape(filename):
    if filename is None:
        return True
    return filename.lower().endswith(_AUTOESCAPE_EXT)


def _url_for(endpoint, **values):
    request = _cv_request.get(None)
    if request is not None:
        return request.app.url_for(endpoint, **values)
    from .appctx import current_app_or_none

    app = current_app_or_none()
    if app is None:
        raise RuntimeError("url_for() in a template needs a request or an app context")
    return app.url_for(endpoint, **values)


def _template_folders(app):
    """(folder, ...) the app's first, then its blueprints' in registration order."""
    folders = []
    seen = set()
    scaffolds = [app] + list(app.blueprints.values())
    for s in scaffolds:
        folder = getattr(s, "template_folder", None)
        if folder is None:
            continue
        path = os.path.join(s.root_path, folder)
        if path not in seen:
            seen.add(path)
            folders.append(path)
    return folders


def create_environment(app):
    """The Jinja2 Environment of ``app`` (built once; ``app.jinja_env`` calls this)."""
    jinja2 = _jinja2()

    class _AppLoader(jinja2.BaseLoader):  # type: ignore[name-defined]  # jinja2 is imported lazily
        """Searches the folders each time, so blueprints added later are seen."""

        def get_source(self, environment, template):
            for folder in _template_folders(app):
                try:
                    return jinja2.FileSystemLoader(folder).get_source(environment, template)
                except jinja2.TemplateNotFound:
                    continue
            raise jinja2.TemplateNotFound(template)

        def list_templates(self):
            names = set()
            for folder in _template_folders(app):
                names.update(jinja2.FileSystemLoader(folder).list_templates())
            return sorted(names)

    options = dict(getattr(app, "jinja_options", {}) or {})
    options.setdefault("autoescape", select_autoescape)
    reload = app.config.get("TEMPLATES_AUTO_RELOAD")
    options.setdefault("auto_reload", app.debug if reload is None else bool(reload))
    env = jinja2.Environment(loader=_AppLoader(), **options)
    env.globals.update(
        url_for=_url_for,
        get_flashed_messages=get_flashed_messages,
        config=app.config,
    )
    env.filters.update(app.template_filters)
    env.tests.update(app.template_tests)
    env.globals.update(app.template_globals)
    return env


def _context(app, context):
    """The template context: request, g, session, then context processors, then the caller's."""
    request = _cv_request.get(None)
    out = {}
    if request is not None:
        out["request"] = request
        out["g"] = request.g
        out["session"] = session
        scopes = [app]
        bp_names = request.blueprints
        for name in reversed(bp_names):
            bp = app.blueprints.get(name)
            if bp is not None:
                scopes.append(bp)
    else:
        from .appctx import current_g_or_none

        g = current_g_or_none()
        if g is not None:
            out["g"] = g
        scopes = [app]
    for scope in scopes:
        for func in scope.template_context_processors:
            out.update(func())
    out.update(context)
    return out


def _app():
    request = _cv_request.get(None)
    if request is not None:
        return request.app
    from .appctx import current_app_or_none

    app = current_app_or_none()
    if app is None:
        raise RuntimeError("rendering a template needs a request or an app context (with app.app_context():)")
    return app


def render_template(template_name_or_list, **context):
    """Render a template file from the templates folders to a str."""
    _jinja2()
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return template.render(_context(app, context))


def render_template_string(source, **context):
    """Render a template given as text (autoescaped) to a str."""
    _jinja2()
    app = _app()
    template = app.jinja_env.from_string(source)
    return template.render(_context(app, context))


def stream_template(template_name_or_list, **context):
    """Render a template file chunk by chunk; return it from a view to stream it."""
    _jinja2()
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return template.generate(_context(app, context))


def stream_template_string(source, **context):
    _jinja2()
    app = _app()
    return app.jinja_env.from_string(source).generate(_context(app, context))


def init_templating(app):
    app.jinja_options = {}
    app.template_filters = {}
    app.template_globals = {}
    app.template_tests = {}
    app._jinja_env = None
    # Not app._lock: startup() holds that while startup hooks run, and a hook may render.
    app._jinja_lock = threading.Lock()


class TemplatingMixin:
    """App methods for templates: ``jinja_env`` and the filter/global/test decorators."""

    # Set by init_templating(app).
    _jinja_env: Any
    _jinja_lock: Any

    @property
    def jinja_env(self):
        env = self._jinja_env
        if env is None:
            with self._jinja_lock:
                if self._jinja_env is None:
                    self._jinja_env = create_environment(self)
                env = self._jinja_env
        return env

    def _register_template(self, table, env_attr, func, name):
        name = name or func.__name__
        getattr(self, table)[name] = func
        if self._jinja_env is not None:
            getattr(self._jinja_env, env_attr)[name] = func
        return func

    def add_template_filter(self, func, name=None):
        return self._register_template("template_filters", "filters", func, name)

    def add_template_global(self, func, name=None):
        return self._register_template("template_globals", "globals", func, name)

    def add_template_test(self, func, name=None):
        return self._register_template("template_tests", "tests", func, name)

    def template_filter(self, name=None):
        """``@app.template_filter()`` registers a Jinja filter (named after the function)."""
        if callable(name):
            return self.add_template_filter(name)
        return lambda func: self.add_template_filter(func, name)

    def template_global(self, name=None):
        if callable(name):
            return self.add_template_global(name)
        return lambda func: self.add_template_global(func, name)

    def template_test(self, name=None):
        if callable(name):
            return self.add_template_test(name)
        return lambda func: self.add_template_test(func, name)
