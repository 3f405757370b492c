"""The OpenAPI 3.1 document of an app, built from its rules and view signatures.

Built on demand (``app.openapi()``, the ``openapi_url`` route, ``hatchway
openapi``); nothing here runs per request.
"""

import inspect
import typing

from ..converters import AnyConverter, FloatConverter, IntegerConverter, StringConverter, UUIDConverter
from ..response import Response
from . import view_spec
from .binder import needs_binding
from .problems import Problem, ValidationProblem
from .schema import Schemas, apply_constraints, jsonable_default
from .types import strip_optional

__all__ = ["build_document"]

_PROBLEM = "application/problem+json"
_SKIP_METHODS = ("HEAD", "OPTIONS")
_METHOD_ORDER = ("GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE")


def _template(rule):
    out = []
    for parts in rule.segments:
        out.append("".join(p if type(p) is str else "{" + p[0] + "}" for p in parts))
    return "/" + "/".join(out)


def _converter_schema(conv):
    if isinstance(conv, IntegerConverter):
        s: dict[str, typing.Any] = {"type": "integer"}
        if not conv.signed:
            s["minimum"] = 0
        if conv.min is not None:
            s["minimum"] = conv.min
        if conv.max is not None:
            s["maximum"] = conv.max
        return s
    if isinstance(conv, FloatConverter):
        s = {"type": "number"}
        if conv.min is not None:
            s["minimum"] = conv.min
        if conv.max is not None:
            s["maximum"] = conv.max
        return s
    if isinstance(conv, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(conv, AnyConverter):
        return {"type": "string", "enum": list(conv.items)}
    s = {"type": "string"}
    if isinstance(conv, StringConverter):
        lo, hi = conv.args
        if lo:
            s["minLength"] = lo
        if hi is not None:
            s["maxLength"] = hi
    return s


def _split_doc(view):
    doc = inspect.getdoc(view)
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n")
    return first.strip() or None, rest.strip() or None


def _response_for(schemas, tp, description):
    if tp is None:
        return {"description": description}
    if isinstance(tp, dict):
        return tp  # a ready OpenAPI response object
    core = strip_optional(tp)
    if isinstance(core, type) and issubclass(core, Response):
        return {"description": description}
    if core is str:
        return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    if core is bytes:
        return {"description": description, "content": {"application/octet-stream": {"schema": {}}}}
    media = _PROBLEM if core in (Problem, ValidationProblem) else "application/json"
    return {"description": description, "content": {media: {"schema": schemas.schema(tp)}}}


def _phrase(code):
    from http import HTTPStatus

    try:
        return HTTPStatus(int(code)).phrase
    except ValueError:
        return "Client error" if str(code).upper() == "4XX" else "Response"


def _operation(rule, method, view, spec, doc, schemas, op_ids):
    op: dict[str, typing.Any] = {}
    tags = doc.get("tags")
    if tags is None and rule.payload is not None and rule.payload.blueprint:
        tags = [rule.payload.blueprint]
    if tags:
        op["tags"] = list(tags)
    summary, description = _split_doc(view)
    summary = doc.get("summary", summary)
    description = doc.get("description", description)
    if summary:
        op["summary"] = summary
    if description:
        op["description"] = description
    op_id = doc.get("operation_id") or rule.endpoint.replace(".", "_")
    if op_id in op_ids:
        op_id = f"{op_id}_{method.lower()}"
    n = 2
    base = op_id
    while op_id in op_ids:
        op_id, n = f"{base}_{n}", n + 1
    op_ids.add(op_id)
    op["operationId"] = op_id

    params, bodies, by_name = [], [], {}
    for p in (spec.params if spec is not None else ()):
        by_name[p.name] = p
    for name in rule.arg_names:
        p = by_name.get(name)
        s = _converter_schema(rule.converters[name])
        if p is not None and p.marker is not None:
            apply_constraints(s, p.marker)
        params.append({"name": name, "in": "path", "required": True, "schema": s})
    binds = False
    for p in (spec.params if spec is not None else ()):
        if p.source == "path":
            continue
        binds = True
        if p.source == "body":
            bodies.append(p)
            continue
        s = schemas.schema(p.annotation)
        if not p.required:
            d = jsonable_default(p.default)
            if d is not None or p.default is None:
                s["default"] = d
        entry = {"name": p.key, "in": p.source, "required": p.required, "schema": s}
        if p.marker is not None and p.marker.description:
            entry["description"] = p.marker.description
        if p.marker is not None and p.marker.deprecated:
            entry["deprecated"] = True
        if p.many and p.source == "query":
            entry["style"], entry["explode"] = "form", True
        params.append(entry)
    if params:
        op["parameters"] = params
    if bodies:
        if len(bodies) == 1:
            b = bodies[0]
            body_schema = schemas.schema(b.annotation)
            required = b.required
        else:
            body_schema = {"type": "object", "properties": {b.key: schemas.schema(b.annotation) for b in bodies},
                           "required": [b.key for b in bodies if b.required]}
            required = any(b.required for b in bodies)
        op["requestBody"] = {"required": required, "content": {"application/json": {"schema": body_schema}}}

    responses = {}
    declared = {str(k).upper(): v for k, v in (doc.get("responses") or {}).items()}
    if not any(k.startswith("2") for k in declared):
        returns = spec.returns if spec is not None else _return_hint(view)
        responses["200"] = _response_for(schemas, returns, "Successful response")
    for code, tp in sorted(declared.items()):
        responses[code] = _response_for(schemas, tp, _phrase(code))
    if binds and "422" not in responses:
        responses["422"] = _response_for(schemas, ValidationProblem, "Validation failed: every failing field listed")
    if "4XX" not in responses:
        responses["4XX"] = _response_for(schemas, Problem, "Client error (RFC 9457 problem detail)")
    op["responses"] = responses
    if doc.get("deprecated"):
        op["deprecated"] = True
    return op


def _return_hint(view):
    try:
        return typing.get_type_hints(view).get("return")
    except Exception:
        return None


def build_document(app):
    schemas = Schemas()
    paths: dict = {}
    tags = []
    op_ids: set = set()
    by_endpoint: dict = {}
    for rule in app.routes:
        by_endpoint.setdefault(rule.endpoint, []).append(rule)
    for rule in app.routes:
        doc = app._route_docs.get(rule, {})
        if doc.get("include_in_schema") is False:
            continue
        view = app.view_functions.get(rule.endpoint)
        if view is None:
            continue
        spec = view_spec(view, by_endpoint[rule.endpoint]) if needs_binding(view) else None
        item = paths.setdefault(_template(rule), {})
        for method in sorted(rule.methods, key=lambda m: _METHOD_ORDER.index(m) if m in _METHOD_ORDER else 99):
            if method in _SKIP_METHODS and len(rule.methods) > 1:
                continue
            op = _operation(rule, method, view, spec, doc, schemas, op_ids)
            item[method.lower()] = op
            for t in op.get("tags", ()):
                if t not in tags:
                    tags.append(t)
    document = {"openapi": "3.1.0", "info": dict(app.openapi_info), "paths": paths}
    if schemas.components:
        document["components"] = {"schemas": dict(sorted(schemas.components.items()))}
    if tags:
        document["tags"] = [{"name": t} for t in tags]
    return document
