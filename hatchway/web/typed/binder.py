"""The binder: a view's signature turned into one generated function.

``analyse`` reads the signature once (at registration and startup) into
``ParamSpec`` records; ``compile_binder`` writes Python source for a
function ``bound(request, <path args>)`` that reads each parameter from its
place with the converter chosen for its type, collects every failure, raises
one 422 listing them, and otherwise calls the view. Nothing is introspected
per request: the only work left is the reading and converting itself.
"""

import copy
import enum
import inspect
import re
import typing
import uuid

from ..converters import AnyConverter, FloatConverter, IntegerConverter, PathConverter, StringConverter, UUIDConverter
from .coerce import BAD, json_converter
from .text import constraint_checker, text_converter
from .params import Body, Param, Query
from .problems import RequestValidationError
from .types import hints_of, is_model, strip_optional, unwrap

__all__ = ["ParamSpec", "ViewSpec", "analyse", "compile_binder", "needs_binding", "header_key"]

_EMPTY = inspect.Parameter.empty
_MISSING = object()
_PATH_TYPES = {IntegerConverter: int, FloatConverter: float, UUIDConverter: uuid.UUID}
_TEXT_CONVERTERS = (StringConverter, PathConverter, AnyConverter)


class ParamSpec:
    __slots__ = ("name", "source", "key", "annotation", "type", "marker", "required", "default", "many")

    def __init__(self, name, source, key, annotation, tp, marker, required, default, many):
        self.name, self.source, self.key = name, source, key
        self.annotation, self.type, self.marker = annotation, tp, marker
        self.required, self.default, self.many = required, default, many

    def __repr__(self):
        return f"<ParamSpec {self.source}:{self.key} {self.annotation!r}>"


class ViewSpec:
    __slots__ = ("view", "params", "returns", "pass_request")

    def __init__(self, view, params, returns, pass_request):
        self.view, self.params, self.returns, self.pass_request = view, params, returns, pass_request


def needs_binding(view):
    """Cheap test: does the view annotate anything but ``request`` and its return?"""
    ann = getattr(view, "__annotations__", None)
    if not ann:
        return False
    return any(k not in ("return", "request") for k in ann)


def header_key(name):
    """``x_token`` -> ``X-Token`` (the wire name) for a header parameter."""
    return "-".join(p.capitalize() for p in name.split("_"))


def _environ_key(header):
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _is_list(tp):
    return typing.get_origin(tp) in (list, tuple, set, frozenset) or tp in (list, tuple, set)


def analyse(view, path_converters):
    """Read ``view``'s signature into a ViewSpec; ``path_converters`` maps URL names to converters.

    Raises TypeError/ValueError naming the view and parameter when the
    signature cannot be honoured (a path annotation that disagrees with the
    rule's converter, a type that cannot come from text, ...).
    """
    where = getattr(view, "__qualname__", repr(view))
    sig = inspect.signature(view)
    try:
        hints = hints_of(view)
    except Exception as e:
        raise TypeError(f"{where}: cannot resolve its annotations ({e})") from None
    params = []
    pass_request = False
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if name == "request":
            pass_request = True
            continue
        ann = hints.get(name, _EMPTY)
        tp, markers = unwrap(ann) if ann is not _EMPTY else (str, [])
        marker = markers[0] if markers else None
        has_default = p.default is not _EMPTY
        default = p.default if has_default else _MISSING
        required = not has_default
        core = strip_optional(tp)
        if name in path_converters:
            source = "path"
            if marker is not None and marker.source not in (None, "path"):
                raise TypeError(f"{where}: {name!r} is a URL variable but is marked {type(marker).__name__}")
            _check_path(where, name, core, path_converters[name], ann is _EMPTY)
        elif marker is not None and marker.source is not None:
            source = marker.source
        elif is_model(core) or (_is_list(core) and typing.get_args(core) and is_model(typing.get_args(core)[0])):
            source = "body"
        elif typing.get_origin(core) is dict or core is dict:
            source = "body"
        else:
            source = "query"
        if marker is None and source != "path":
            marker = Body() if source == "body" else Query()
        many = source in ("query", "header") and _is_list(core)
        if source == "header":
            assert marker is not None  # set just above for every source but path
            key = marker.alias or header_key(name)
        else:
            key = (marker.alias if marker is not None else None) or name
        spec = ParamSpec(name, source, key, ann if ann is not _EMPTY else str, core, marker, required, default, many)
        if source in ("query", "header", "cookie", "path") and not (source == "path" and ann is _EMPTY):
            item = typing.get_args(core)[0] if many and typing.get_args(core) else (str if many else core)
            try:
                text_converter(item)
            except TypeError as e:
                raise TypeError(f"{where}: parameter {name!r}: {e}") from None
        params.append(spec)
    returns = hints.get("return", None)
    return ViewSpec(view, params, returns, pass_request)


def _check_path(where, name, tp, conv, unannotated):
    if unannotated:
        return
    expected = _PATH_TYPES.get(type(conv))
    if expected is None and isinstance(conv, _TEXT_CONVERTERS):
        expected = str
        # A str-valued Enum or Literal narrows a text segment; the binder converts.
        if (isinstance(tp, type) and issubclass(tp, enum.Enum)) or typing.get_origin(tp) is typing.Literal:
            return
    if expected is None:
        expected = getattr(conv, "python_type", None)
        if expected is None:
            return
    if tp is not expected:
        conv_name = type(conv).__name__
        raise TypeError(
            f"{where}: URL variable {name!r} is annotated {getattr(tp, '__name__', tp)!r} but its "
            f"converter {conv_name} produces {expected.__name__!r}; change one to agree "
            f"(e.g. <int:{name}> with {name}: int)"
        )


_SOURCE_RANK = {"path": 0, "query": 1, "header": 2, "cookie": 3, "body": 4}


def _fail(errors):
    # Report in request order (URL, headers, body) whatever the signature's order.
    errors.sort(key=lambda e: _SOURCE_RANK.get(e[0][0], 5))
    raise RequestValidationError(errors)


# Names the generated function uses itself; URL variables so named are passed through **path.
_GENERATED_NAMES = frozenset((
    "e", "a", "r", "x", "s", "j", "env", "ck", "env_", "data", "view", "fail", "dget", "BAD", "M",
    "NO_LENGTH", "path", "copy",
))
_GENERATED_VAR = re.compile(r"[vLcDkbT][0-9]+").fullmatch


def compile_binder(spec, path_names, explicit_path=True):
    """Generate ``bound(request, ...)`` for ``spec``.

    ``path_names`` are the keyword arguments the router passes (URL variables
    and rule defaults). With ``explicit_path`` they become named parameters
    (fastest); otherwise ``**path`` is used, for endpoints whose rules
    disagree on the names.
    """
    ns = {"view": spec.view, "fail": _fail, "dget": dict.get, "BAD": BAD, "M": _MISSING, "copy": copy.copy,
          "NO_LENGTH": (None, "", "0")}
    if explicit_path and any(n in _GENERATED_NAMES or _GENERATED_VAR(n) for n in path_names):
        explicit_path = False  # a URL variable named like a local of the generated code
    if explicit_path:
        head = ", ".join(["request"] + [n for n in path_names])
    else:
        head = "request, **path"
    lines = [f"def bound({head}):", "    e = []"]
    sources = {p.source for p in spec.params}
    if "query" in sources:
        lines.append("    a = request.args")
    if "header" in sources:
        lines.append("    env = request.environ")
    if "cookie" in sources:
        lines.append("    ck = request.cookies")
    bodies = [p for p in spec.params if p.source == "body"]
    body_read = False
    call = []
    for i, p in enumerate(spec.params):
        var = f"v{i}"
        ns[f"L{i}"] = (p.source, p.key) if p.source != "body" else ("body",)
        call.append(f"{p.name}={var}")
        if p.default is not _MISSING:
            ns[f"D{i}"] = p.default
        missing = (
            [f"        e.append((L{i}, 'field required'))", f"        {var} = None"] if p.required
            # A mutable default is copied per request, so a view changing it changes nothing.
            else [f"        {var} = {f'copy(D{i})' if isinstance(p.default, (list, set, dict)) else f'D{i}'}"]
        )
        if p.source == "path":
            get = p.name if explicit_path else f"path.get({p.name!r}, M)"
            lines.append(f"    {var} = {get}")
            if not explicit_path:
                lines.append(f"    if {var} is M:")
                lines += missing if not p.required else [f"        {var} = None"]
            conv = _path_conv(p)
            if conv is not None:
                ns[f"c{i}"] = conv
                lines += [
                    "    try:",
                    f"        {var} = c{i}({var})",
                    "    except ValueError as x:",
                    f"        e.append((L{i}, str(x)))",
                ]
            continue
        if p.source == "body":
            _body_lines(lines, ns, i, p, var, bodies, missing, first=not body_read)
            body_read = True
            continue
        if p.source == "query":
            fetch = f"    r = dget(a, {p.key!r})"
        elif p.source == "header":
            fetch = f"    r = env.get({_environ_key(p.key)!r})"
        else:
            fetch = f"    r = ck.get({p.key!r})"
        lines.append(fetch)
        lines.append("    if r is None:")
        lines += missing
        if p.many:
            item_tp = typing.get_args(p.type)[0] if typing.get_args(p.type) else str
            item_marker, list_check = _split_marker(p.marker)
            ns[f"c{i}"] = text_converter(item_tp, item_marker) or str
            if list_check is not None:
                ns[f"k{i}"] = list_check
            lines.append("    else:")
            if p.source == "header":
                lines.append("        r = [s.strip() for s in r.split(',') if s.strip()]")
            lines += [
                f"        {var} = []",
                "        for j, s in enumerate(r):",
                "            try:",
                f"                {var}.append(c{i}(s))",
                "            except ValueError as x:",
                f"                e.append((L{i} + (j,), str(x)))",
            ]
            container = typing.get_origin(p.type) or p.type
            if container in (set, frozenset, tuple):
                ns[f"T{i}"] = container
                lines.append(f"        {var} = T{i}({var})")
            if list_check is not None:
                lines += [
                    "        try:",
                    f"            k{i}({var})",
                    "        except ValueError as x:",
                    f"            e.append((L{i}, str(x)))",
                ]
            continue
        first = "r[0]" if p.source == "query" else "r"
        conv = text_converter(p.type, p.marker)
        if conv is None:
            lines += ["    else:", f"        {var} = {first}"]
        else:
            ns[f"c{i}"] = conv
            lines += [
                "    else:",
                "        try:",
                f"            {var} = c{i}({first})",
                "        except ValueError as x:",
                f"            e.append((L{i}, str(x)))",
                f"            {var} = None",
            ]
    lines += ["    if e:", "        fail(e)"]
    if spec.pass_request:
        call.append("request=request")
    lines.append(f"    return view({', '.join(call)})")
    src = "\n".join(lines)
    name = getattr(spec.view, "__qualname__", "view")
    exec(compile(src, f"<hatchway binder for {name}>", "exec"), ns)
    bound = ns["bound"]
    bound.__wrapped__ = spec.view
    bound.__name__ = getattr(spec.view, "__name__", "bound")
    bound.__qualname__ = name
    bound.__doc__ = getattr(spec.view, "__doc__", None)
    bound.__source__ = src
    return bound


def _path_conv(p):
    tp = p.type
    base = None
    if (isinstance(tp, type) and issubclass(tp, enum.Enum)) or typing.get_origin(tp) is typing.Literal:
        base = text_converter(tp)
    check = constraint_checker(p.marker)
    if base is None:
        return check
    if check is None:
        return base
    return lambda v: check(base(v))


def _split_marker(marker):
    """Length limits apply to a list parameter itself, the rest to each item."""
    if marker is None:
        return None, None
    items = Param(gt=marker.gt, ge=marker.ge, lt=marker.lt, le=marker.le,
                  pattern=marker.pattern, multiple_of=marker.multiple_of)
    whole = Param(min_length=marker.min_length, max_length=marker.max_length)
    return items, constraint_checker(whole)


def _body_lines(lines, ns, i, p, var, bodies, missing, first):
    ns[f"b{i}"] = json_converter(p.annotation)
    if first:  # the body is read (and its limits enforced) once, by request.get_json()
        optional = all(not b.required for b in bodies)
        if optional:
            lines += [
                "    env_ = request.environ",
                "    if env_.get('CONTENT_LENGTH') in NO_LENGTH and not env_.get('CONTENT_TYPE') "
                "and not env_.get('HTTP_TRANSFER_ENCODING'):",
                "        data = M",
                "    else:",
                "        data = request.get_json()",
            ]
        else:
            lines.append("    data = request.get_json()")
        if len(bodies) > 1:
            lines += [
                "    if data is not M and type(data) is not dict:",
                "        e.append((('body',), 'expected an object'))",
                "        data = {}",
            ]
    if len(bodies) > 1:
        ns[f"L{i}"] = ("body", p.name)
        lines.append(f"    x = M if data is M else data.get({p.key!r}, M)")
    else:
        lines.append("    x = data")
    lines.append("    if x is M:")
    lines += missing
    lines += ["    else:", f"        {var} = b{i}(x, L{i}, e)"]
