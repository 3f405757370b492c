"""Typed views: a view's signature is its contract, and the OpenAPI document follows.

    from typing import Annotated
    from hatchway.web.typed import Header, Query

    @app.get("/items/<int:id>")
    def item(id: int, q: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 10): ...

Binders are compiled once, at ``app.startup()``. Views without annotations are
left exactly as they are. Nothing here imports msgspec or pydantic unless a
view uses their types, and the binder machinery is imported only when an app
has an annotated view.
"""

from .params import Body, Cookie, Field, Header, Param, Path, Query
from .problems import Problem, RequestValidationError, ValidationProblem

__all__ = [
    "Query", "Header", "Cookie", "Path", "Body", "Field", "Param",
    "Problem", "ValidationProblem", "RequestValidationError",
    "check_rule", "install_binders", "view_spec",
]

_DEFERRED = (NameError, AttributeError)


def check_rule(rule, view):
    """At registration: refuse a signature the rule cannot honour (path types first)."""
    from .binder import analyse, needs_binding

    if not needs_binding(view):
        return
    try:
        analyse(view, rule.converters)
    except TypeError as e:
        # Annotations naming classes defined later in the module resolve at startup.
        if isinstance(e.__context__, _DEFERRED) or "cannot resolve its annotations" in str(e):
            return
        raise ValueError(f"rule {rule.rule!r}: {e}") from None


def _rules_by_endpoint(app):
    out: dict = {}
    for rule in app.routes:
        out.setdefault(rule.endpoint, []).append(rule)
    return out


def view_spec(view, rules):
    """The ViewSpec of ``view`` as served by ``rules`` (URL variables merged)."""
    from .binder import analyse

    converters = {}
    for r in rules:
        converters.update(r.converters)
        for k in (r.defaults or ()):
            converters.setdefault(k, None)
    return analyse(view, {k: v for k, v in converters.items()})


def _path_names(rules):
    names = [tuple(r.arg_names) + tuple(sorted(r.defaults or ())) for r in rules]
    first = names[0] if names else ()
    if all(set(n) == set(first) for n in names):
        return list(first), True
    return sorted({x for n in names for x in n}), False


def install_binders(app):
    """At startup: give every annotated view its compiled binder."""
    from .binder import compile_binder, needs_binding

    by_endpoint = _rules_by_endpoint(app)
    for endpoint, target in app._targets.items():
        view = target.view
        if view is None or not needs_binding(view):
            continue
        rules = by_endpoint.get(endpoint, [])
        spec = view_spec(view, rules)
        if not any(p.source != "path" or p.marker is not None or _converts(p) for p in spec.params):
            continue  # only URL variables the router already converted: nothing to bind
        names, explicit = _path_names(rules)
        target.view = compile_binder(spec, names, explicit)
        target.pass_request = True


def _converts(p):
    import enum
    import typing

    tp = p.type
    return (isinstance(tp, type) and issubclass(tp, enum.Enum)) or typing.get_origin(tp) is typing.Literal
