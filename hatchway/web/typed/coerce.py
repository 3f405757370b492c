"""Converters from parsed JSON, built once per type.

``json_converter(tp, marker)`` returns ``f(value, loc,
errors) -> value`` that appends ``(loc, reason)`` to ``errors`` and returns
``BAD`` instead of stopping at the first problem, so a 422 lists every field.
Object types (dataclasses, TypedDicts) get generated source so a body of ten
fields costs one function call plus inline type checks.
"""

import dataclasses
import datetime
import decimal
import enum
import math
import re
import typing
import uuid

from .text import (
    TEXT_CONVERTERS as _TEXT, _date_text, _datetime_text, _decimal_text, _uuid_text, constraint_checker, describe,
)
from .types import NoneType, hints_of, is_pydantic, is_struct, is_typeddict, is_union, unwrap

__all__ = ["BAD", "json_converter"]


class _Bad:
    __slots__ = ()

    def __repr__(self):
        return "BAD"


BAD = _Bad()
_MISSING = object()


# ------------------------------------------------------------ from JSON

def _simple(kind_ok, reason, then=None):
    def conv(v, loc, errs):
        if kind_ok(v):
            return v if then is None else then(v)
        errs.append((loc, reason))
        return BAD

    return conv


def _json_int(v, loc, errs):
    t = type(v)
    if t is int:
        return v
    # JSON Schema counts 3.0 as an integer; so do we.
    if t is float and v.is_integer():
        return int(v)
    errs.append((loc, "expected an integer"))
    return BAD


def _json_float(v, loc, errs):
    t = type(v)
    if t is float:
        if v - v == 0.0:  # finite: json.loads turns 1e999 into inf
            return v
        errs.append((loc, "expected a finite number"))
        return BAD
    if t is int:
        return float(v)
    errs.append((loc, "expected a number"))
    return BAD


def _json_bool(v, loc, errs):
    if v is True or v is False:
        return v
    errs.append((loc, "expected a boolean"))
    return BAD


def _json_str(v, loc, errs):
    if type(v) is str:
        return v
    errs.append((loc, "expected a string"))
    return BAD


def _json_none(v, loc, errs):
    if v is None:
        return None
    errs.append((loc, "expected null"))
    return BAD


def _json_any(v, loc, errs):
    return v


def _from_text_in_json(text_conv, what):
    def conv(v, loc, errs):
        if type(v) is not str:
            errs.append((loc, f"expected {what} as a string"))
            return BAD
        try:
            return text_conv(v)
        except ValueError as e:
            errs.append((loc, str(e)))
            return BAD

    return conv


def _json_decimal(v, loc, errs):
    t = type(v)
    if t is int or t is float:
        if t is float and not math.isfinite(v):
            errs.append((loc, "expected a finite number"))
            return BAD
        return decimal.Decimal(str(v))
    if t is str:
        try:
            return _decimal_text(v)
        except ValueError as e:
            errs.append((loc, str(e)))
            return BAD
    errs.append((loc, "expected a decimal number"))
    return BAD


def _json_enum(cls):
    members = {m.value: m for m in cls}
    choices = ", ".join(repr(k) for k in members)

    def conv(v, loc, errs):
        try:
            return members[v]
        except (KeyError, TypeError):
            errs.append((loc, f"expected one of {choices}"))
            return BAD

    return conv


def _json_literal(values):
    def conv(v, loc, errs):
        for allowed in values:
            if v == allowed and type(v) is type(allowed):
                return allowed
        errs.append((loc, "expected one of " + ", ".join(repr(a) for a in values)))
        return BAD

    return conv


def _json_list(item, kind, tuple_out=False):
    def conv(v, loc, errs):
        if type(v) is not list:
            errs.append((loc, f"expected {kind}"))
            return BAD
        n = len(errs)
        out = [item(x, loc + (i,), errs) for i, x in enumerate(v)]
        if len(errs) != n:
            return BAD
        return tuple(out) if tuple_out else (set(out) if kind == "an array of unique items" else out)

    return conv


def _json_tuple(items):
    def conv(v, loc, errs):
        if type(v) is not list or len(v) != len(items):
            errs.append((loc, f"expected an array of {len(items)} items"))
            return BAD
        n = len(errs)
        out = tuple(c(x, loc + (i,), errs) for i, (c, x) in enumerate(zip(items, v, strict=True)))
        return BAD if len(errs) != n else out

    return conv


def _json_dict(key_conv, value_conv):
    def conv(v, loc, errs):
        if type(v) is not dict:
            errs.append((loc, "expected an object"))
            return BAD
        n = len(errs)
        out = {}
        for k, x in v.items():
            kk = k if key_conv is None else key_conv(k, loc + (k,), errs)
            out[kk] = value_conv(x, loc + (k,), errs)
        return BAD if len(errs) != n else out

    return conv


def _json_union(options, names):
    # Try each member against a scratch error list; the first that takes the
    # value wins. Only when all fail are errors reported (once, for the union).
    def conv(v, loc, errs):
        for c in options:
            scratch: list = []
            out = c(v, loc, scratch)
            if not scratch:
                return out
        errs.append((loc, f"expected {names}"))
        return BAD

    return conv


def _with_check(conv, check):
    def checked(v, loc, errs):
        out = conv(v, loc, errs)
        if out is BAD:
            return BAD
        try:
            return check(out)
        except ValueError as e:
            errs.append((loc, str(e)))
            return BAD

    return checked


def _json_pydantic(model):
    def conv(v, loc, errs):
        try:
            return model.model_validate(v)
        except Exception as e:  # pydantic.ValidationError, without importing pydantic
            found = getattr(e, "errors", None)
            if found is None:
                raise
            for err in found():
                errs.append((loc + tuple(err.get("loc", ())), err.get("msg", "invalid")))
            return BAD

    return conv


_MSGSPEC_PATH = re.compile(r"\.([A-Za-z_][\w]*)|\[(\d+)\]|\[\.\.\.\]")


def _msgspec_error(exc, loc):
    """msgspec's "reason - at `$.a[3].b`" as (location, reason)."""
    text = str(exc)
    reason, sep, where = text.rpartition(" - at `")
    path = loc
    if sep:
        for m in _MSGSPEC_PATH.finditer(where.rstrip("`")[1:]):
            path += (m.group(1),) if m.group(1) else ((int(m.group(2)),) if m.group(2) else ())
    else:
        reason = text
    return path, reason


def _struct_fields(struct):
    import msgspec

    out = []
    for f in msgspec.structs.fields(struct):
        default = _MISSING if f.default is msgspec.NODEFAULT else f.default
        factory = None if f.default_factory is msgspec.NODEFAULT else f.default_factory
        out.append((f.name, f.type, f.required, default, factory, f.encode_name))
    return out


def _json_struct(struct, cache):
    """msgspec decides; when it refuses, a walk of the fields finds the other failures too.

    msgspec stops at the first error. The walk (the dataclass converter over the
    Struct's fields, ``msgspec.Meta`` constraints included) runs only on that
    failure path; msgspec's own error is added unless the walk already reported
    that place or something inside it.
    """
    import msgspec

    convert, error = msgspec.convert, msgspec.ValidationError

    def conv(v, loc, errs):
        try:
            return convert(v, struct)
        except error as e:
            first = _msgspec_error(e, loc)
            found: list = []
            try:
                walk(v, loc, found)
            except Exception:  # the walk only adds detail; msgspec's verdict stands
                found = []
            # msgspec names a missing field at its parent; the walk names the field itself.
            n = len(first[0])
            if not any(f[0][:n] == first[0] for f in found):
                found.append(first)
            errs.extend(found)
            return BAD

    cache[struct] = conv
    walk = _object_converter(struct, cache, _struct_fields(struct), ("walk", struct))
    return conv


_JSON = {
    int: _json_int, float: _json_float, bool: _json_bool, str: _json_str, NoneType: _json_none,
    typing.Any: _json_any, object: _json_any, decimal.Decimal: _json_decimal,
    uuid.UUID: _from_text_in_json(_uuid_text, "a UUID"),
    datetime.datetime: _from_text_in_json(_datetime_text, "a date-time"),
    datetime.date: _from_text_in_json(_date_text, "a date"),
}
# Leaf types whose exact Python type can be checked inline in generated code.
_INLINE = {str: "str", int: "int", float: "float", bool: "bool"}


def json_converter(tp, marker=None, _cache=None):
    """``f(value, loc, errors) -> value or BAD`` for any supported annotation."""
    cache = {} if _cache is None else _cache
    tp, markers = unwrap(tp)
    marker = marker or (markers[0] if markers else None)
    conv = _json_base(tp, cache)
    check = constraint_checker(marker)
    return conv if check is None else _with_check(conv, check)


def _json_base(tp, cache):
    if tp in _JSON:
        return _JSON[tp]
    try:
        hit = cache.get(tp)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if is_union(tp):
        opts = [json_converter(a, None, cache) for a in args]
        if len(args) == 2 and NoneType in args:
            inner = opts[0] if args[1] is NoneType else opts[1]

            def optional(v, loc, errs):
                return None if v is None else inner(v, loc, errs)

            return optional
        return _json_union(opts, " or ".join(describe(a) for a in args))
    if origin is typing.Literal:
        return _json_literal(args)
    if origin in (list, set, frozenset, typing.Sequence) or tp in (list, set):
        item = json_converter(args[0], None, cache) if args else _json_any
        kind = "an array of unique items" if origin in (set, frozenset) or tp is set else "an array"
        return _json_list(item, kind)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _json_list(json_converter(args[0], None, cache), "an array", tuple_out=True)
        return _json_tuple([json_converter(a, None, cache) for a in args])
    if origin in (dict, typing.Mapping) or tp is dict:
        key = None
        if args and args[0] is not str:
            kt = _TEXT.get(args[0])
            if kt is None:
                raise TypeError(f"dict keys must be str or a scalar type, not {describe(args[0])}")
            key = _from_text_in_json(kt, describe(args[0]))
        return _json_dict(key, json_converter(args[1], None, cache) if args else _json_any)
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return _json_enum(tp)
        if dataclasses.is_dataclass(tp) or is_typeddict(tp):
            return _object_converter(tp, cache)
        if is_struct(tp):
            return _json_struct(tp, cache)
        if is_pydantic(tp):
            return _json_pydantic(tp)
    raise TypeError(f"unsupported type in a typed view: {tp!r}")


_REQUIRED_WRAPPERS = tuple(
    w for w in (getattr(typing, "Required", None), getattr(typing, "NotRequired", None)) if w is not None
)


def _object_fields(tp):
    """[(name, annotation, required, default, factory)] for a dataclass or TypedDict."""
    hints = hints_of(tp)
    out: list[tuple] = []
    if is_typeddict(tp):
        required = tp.__required_keys__
        for name, ann in hints.items():
            while typing.get_origin(ann) in _REQUIRED_WRAPPERS:
                ann = typing.get_args(ann)[0]
            out.append((name, ann, name in required, _MISSING, None))
        return out
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        ann = hints.get(f.name, typing.Any)
        if f.default is not dataclasses.MISSING:
            out.append((f.name, ann, False, f.default, None))
        elif f.default_factory is not dataclasses.MISSING:
            out.append((f.name, ann, False, _MISSING, f.default_factory))
        else:
            out.append((f.name, ann, True, _MISSING, None))
    return out


def _object_converter(tp, cache, fields=None, cache_key=None):
    # Placeholder first so self-referencing types (trees) resolve to the same function.
    holder: list = []
    cache_key = tp if cache_key is None else cache_key

    def forward(v, loc, errs):
        return holder[0](v, loc, errs)

    cache[cache_key] = forward
    fields = _object_fields(tp) if fields is None else fields
    ns = {"BAD": BAD, "M": _MISSING, "T": tp, "object_type_error": "expected an object"}
    lines = [
        "def convert(v, loc, errs):",
        "    if type(v) is not dict:",
        "        errs.append((loc, object_type_error))",
        "        return BAD",
        "    n = len(errs)",
        "    get = v.get",
    ]
    typed_dict = is_typeddict(tp)
    if typed_dict:
        lines.append("    out = {}")
    for i, (name, ann, required, default, factory, *wire) in enumerate(fields):
        base, markers = unwrap(ann)
        marker = markers[0] if markers else None
        key = wire[0] if wire else (marker.alias if marker is not None and marker.alias else name)
        ns[f"c{i}"] = json_converter(ann, None, cache)
        ns[f"k{i}"] = (key,)
        inline = _INLINE.get(base) if marker is None or not marker.has_constraints else None
        lines.append(f"    x = get({key!r}, M)")
        if required:
            lines.append("    if x is M:")
            lines.append(f"        errs.append((loc + k{i}, 'field required'))")
        elif typed_dict:
            lines.append("    if x is M:")
            lines.append("        pass")
        elif factory is not None:
            ns[f"f{i}"] = factory
            lines.append("    if x is M:")
            lines.append(f"        x = f{i}()")
        else:
            ns[f"d{i}"] = default
            lines.append("    if x is M:")
            lines.append(f"        x = d{i}")
        if inline == "float":
            # x - x is 0.0 for finite floats, nan (truthy) for inf: json.loads makes inf from 1e999.
            lines.append("    elif type(x) is not float or x - x:")
        elif inline:
            lines.append(f"    elif type(x) is not {inline}:")
        else:
            lines.append("    else:")
        lines.append(f"        x = c{i}(x, loc + k{i}, errs)")
        if typed_dict:
            lines.append("    if x is not M:")
            lines.append(f"        out[{name!r}] = x")
        else:
            lines.append(f"    a{i} = x")
    lines.append("    if len(errs) != n:")
    lines.append("        return BAD")
    if typed_dict:
        lines.append("    return out")
    else:
        args = ", ".join(f"{name}=a{i}" for i, (name, *_rest) in enumerate(fields))
        lines.append(f"    return T({args})")
    exec(compile("\n".join(lines), f"<hatchway converter for {describe(tp)}>", "exec"), ns)
    holder.append(ns["convert"])
    cache[cache_key] = ns["convert"]
    return ns["convert"]
