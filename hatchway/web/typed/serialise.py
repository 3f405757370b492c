"""Typed return values (dataclass, TypedDict, msgspec.Struct, pydantic model) as JSON data.

Only reached from ``App.make_response``'s fallback branch, after the common
return types have been ruled out, so it costs nothing for ordinary views.
"""

import dataclasses
import keyword
import types
import typing

__all__ = ["jsonable", "NOT_TYPED"]

NOT_TYPED = object()
_structs_to_builtins = None


def _struct_builtins(value):
    global _structs_to_builtins
    if _structs_to_builtins is None:
        import msgspec

        _structs_to_builtins = msgspec.to_builtins
    return _structs_to_builtins(value)


def _plain(v):
    t = type(v)
    if t is dict:
        return {k: _plain(x) for k, x in v.items()}
    if t is list or t is tuple:
        return [_plain(x) for x in v]
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable(v)
    if hasattr(v, "__struct_fields__") and not isinstance(v, type):
        return _struct_builtins(v)
    if hasattr(v, "model_dump") and not isinstance(v, type):
        return v.model_dump(mode="json")
    if hasattr(v, "value") and hasattr(type(v), "__members__"):  # an Enum member
        return v.value
    return v  # the JSON encoder handles the rest (dates, UUIDs, Decimal) or refuses it


_PASS = (str, int, float, bool, type(None))
_dumpers: dict = {}


def _needs_conversion(tp):
    """Does a value of annotation ``tp`` possibly hold something the JSON encoder cannot take?"""
    if tp in _PASS:
        return False
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _needs_conversion(args[0])
    if args and origin in (list, dict, tuple, typing.Union, getattr(types, "UnionType", None)):
        return any(_needs_conversion(a) for a in args if a is not Ellipsis)
    return True


def _dataclass_dumper(cls):
    """A generated ``dump(v) -> dict`` reading each field once; nested values go through _plain."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        hints = {}
    ns = {"P": _plain}
    items = []
    for f in dataclasses.fields(cls):
        ann = hints.get(f.name)
        get = f"v.{f.name}" if f.name.isidentifier() and not keyword.iskeyword(f.name) else None
        if get is None:
            return _plain
        items.append(f"{f.name!r}: P({get})" if ann is None or _needs_conversion(ann) else f"{f.name!r}: {get}")
    exec(f"def dump(v):\n    return {{{', '.join(items)}}}", ns)
    return ns["dump"]


def jsonable(value):
    """JSON-ready data for a typed value, or NOT_TYPED if it is not one."""
    cls = type(value)
    dump = _dumpers.get(cls)
    if dump is not None:
        return dump(value)
    if isinstance(value, type):
        return NOT_TYPED
    if dataclasses.is_dataclass(value):
        dump = _dumpers[cls] = _dataclass_dumper(cls)
        return dump(value)
    if hasattr(value, "__struct_fields__") or (hasattr(value, "model_dump") and hasattr(cls, "model_fields")):
        return _plain(value)
    return NOT_TYPED
