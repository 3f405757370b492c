"""Typed return values (dataclass, TypedDict, msgspec.Struct, pydantic model) as JSON data.

Only reached from ``App.make_response``'s fallback branch, after the common
return types have been ruled out, so it costs nothing for ordinary views.
"""

import dataclasses

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
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if hasattr(v, "__struct_fields__") and not isinstance(v, type):
        return _struct_builtins(v)
    if hasattr(v, "model_dump") and not isinstance(v, type):
        return v.model_dump(mode="json")
    if hasattr(v, "value") and hasattr(type(v), "__members__"):  # an Enum member
        return v.value
    return v  # the JSON encoder handles the rest (dates, UUIDs, Decimal) or refuses it


def jsonable(value):
    """JSON-ready data for a typed value, or NOT_TYPED if it is not one."""
    if isinstance(value, type):
        return NOT_TYPED
    if dataclasses.is_dataclass(value) or hasattr(value, "__struct_fields__") or \
            (hasattr(value, "model_dump") and hasattr(value, "model_fields")):
        return _plain(value)
    return NOT_TYPED
