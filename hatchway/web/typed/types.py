"""Looking at annotations: unwrap Annotated/Optional, recognise body types.

Everything here runs at registration or startup, never per request.
msgspec and pydantic are recognised by duck typing so that neither needs to
be installed (or imported) for the rest to work.
"""

import dataclasses
import sys
import types
import typing

from .params import Param

__all__ = [
    "unwrap", "is_optional", "strip_optional", "is_typeddict", "is_struct", "is_pydantic",
    "is_model", "hints_of",
]

NoneType = type(None)
_UNION_TYPES = (typing.Union, getattr(types, "UnionType", typing.Union))


def unwrap(tp):
    """-> (type without Annotated, the Param markers found in it)."""
    markers = []
    while typing.get_origin(tp) is typing.Annotated:
        for extra in tp.__metadata__:
            if isinstance(extra, Param) or (isinstance(extra, type) and issubclass(extra, Param)):
                markers.append(extra() if isinstance(extra, type) else extra)
            elif type(extra).__module__.startswith("msgspec") and type(extra).__name__ == "Meta":
                markers.append(_from_meta(extra))
        tp = tp.__origin__
    return tp, markers


def _from_meta(meta):
    """msgspec.Meta constraints as a Param, so walks and schemas see them too."""
    return Param(**{k: getattr(meta, k, None) for k in (
        "gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length", "description")})


def is_union(tp):
    return typing.get_origin(tp) in _UNION_TYPES


def is_optional(tp):
    return is_union(tp) and NoneType in typing.get_args(tp)


def strip_optional(tp):
    """``T | None`` -> ``T`` (a longer union keeps its other members)."""
    if not is_optional(tp):
        return tp
    rest = tuple(a for a in typing.get_args(tp) if a is not NoneType)
    return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007 (a Union of a runtime tuple; `|` cannot spell it)


def is_typeddict(tp):
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def is_struct(tp):
    """A msgspec.Struct subclass (without importing msgspec)."""
    return isinstance(tp, type) and hasattr(tp, "__struct_fields__") and \
        any(c.__module__.startswith("msgspec") for c in tp.__mro__[1:])


def is_pydantic(tp):
    return isinstance(tp, type) and hasattr(tp, "model_validate") and hasattr(tp, "model_json_schema")


def is_model(tp):
    """Types that stand for a JSON object body."""
    return (isinstance(tp, type) and dataclasses.is_dataclass(tp)) or is_typeddict(tp) \
        or is_struct(tp) or is_pydantic(tp)


def hints_of(obj):
    """Type hints with Annotated kept; string annotations resolved in the owner's module."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    globalns = vars(module) if module is not None else None
    return typing.get_type_hints(obj, globalns=globalns, include_extras=True)
