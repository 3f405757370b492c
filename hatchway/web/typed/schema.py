"""JSON Schema 2020-12 for annotations, with object types under components/schemas.

Dataclasses and TypedDicts are described here; msgspec Structs and pydantic
models describe themselves (their own generators, with refs pointed at
components) so the document says exactly what their validators accept.
"""

import dataclasses
import datetime
import decimal
import enum
import re
import typing
import uuid

from .coerce import _object_fields, _MISSING
from .types import NoneType, is_pydantic, is_struct, is_typeddict, is_union, unwrap

__all__ = ["Schemas"]

_REF = "#/components/schemas/"
_SCALARS: dict[typing.Any, dict] = {
    str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
    bool: {"type": "boolean"}, NoneType: {"type": "null"},
    uuid.UUID: {"type": "string", "format": "uuid"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    decimal.Decimal: {"anyOf": [{"type": "number"}, {"type": "string"}]},
}
_BAD_NAME = re.compile(r"[^A-Za-z0-9._-]")


def jsonable_default(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, (tuple, set, frozenset)):
        return [jsonable_default(v) for v in value]
    if isinstance(value, list):
        return [jsonable_default(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable_default(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if dataclasses.is_dataclass(value):
        return {f.name: jsonable_default(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return None


def apply_constraints(schema, marker):
    if marker is None:
        return schema
    # On an array (a list query parameter) the length limits are the list's, the rest its items'.
    target = schema["items"] if schema.get("type") == "array" and isinstance(schema.get("items"), dict) else schema
    for attr, key in (("gt", "exclusiveMinimum"), ("ge", "minimum"), ("lt", "exclusiveMaximum"),
                      ("le", "maximum"), ("multiple_of", "multipleOf"), ("pattern", "pattern")):
        v = getattr(marker, attr)
        if v is not None:
            target[key] = v
    for attr, skey, akey in (("min_length", "minLength", "minItems"), ("max_length", "maxLength", "maxItems")):
        v = getattr(marker, attr)
        if v is not None:
            schema[akey if schema.get("type") == "array" else skey] = v
    if marker.description:
        schema["description"] = marker.description
    if marker.examples:
        schema["examples"] = list(marker.examples)
    return schema


class Schemas:
    """Collects component schemas while describing types."""

    def __init__(self):
        self.components = {}
        self._names = {}

    def _name_for(self, tp):
        name = self._names.get(tp)
        if name is not None:
            return name, False
        base = _BAD_NAME.sub("_", getattr(tp, "__name__", "Schema"))
        name = base
        taken = set(self._names.values())
        if name in taken:
            name = _BAD_NAME.sub("_", f"{tp.__module__}.{tp.__qualname__}")
        n = 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        self._names[tp] = name
        return name, True

    def schema(self, tp, marker=None):
        tp, markers = unwrap(tp)
        marker = marker or (markers[0] if markers else None)
        return apply_constraints(self._base(tp), marker)

    def _base(self, tp):
        if tp in _SCALARS:
            return dict(_SCALARS[tp])
        if tp is typing.Any or tp is object:
            return {}
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if is_union(tp):
            return {"anyOf": [self.schema(a) for a in args]}
        if origin is typing.Literal:
            return {"enum": list(jsonable_default(a) for a in args)}
        if origin in (list, set, frozenset, typing.Sequence) or tp in (list, set):
            out = {"type": "array", "items": self.schema(args[0]) if args else {}}
            if origin in (set, frozenset) or tp is set:
                out["uniqueItems"] = True
            return out
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema(args[0])}
            return {"type": "array", "prefixItems": [self.schema(a) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        if origin in (dict, typing.Mapping) or tp is dict:
            return {"type": "object", "additionalProperties": self.schema(args[1]) if args else {}}
        if isinstance(tp, type):
            if issubclass(tp, enum.Enum):
                return self._ref(tp, self._enum)
            if dataclasses.is_dataclass(tp) or is_typeddict(tp):
                return self._ref(tp, self._object)
            if is_struct(tp):
                return self._foreign_struct(tp)
            if is_pydantic(tp):
                return self._foreign_pydantic(tp)
        raise TypeError(f"cannot describe {tp!r} in JSON Schema")

    def _ref(self, tp, build):
        name, new = self._name_for(tp)
        if new:
            self.components[name] = {}  # reserved first: recursive types refer to themselves
            self.components[name] = build(tp)
        return {"$ref": _REF + name}

    def _enum(self, tp):
        values = [m.value for m in tp]
        out = {"title": tp.__name__, "enum": values}
        if all(type(v) is str for v in values):
            out["type"] = "string"
        elif all(type(v) is int for v in values):
            out["type"] = "integer"
        return out

    def _object(self, tp):
        props, required = {}, []
        for name, ann, req, default, _factory in _object_fields(tp):
            base, markers = unwrap(ann)
            key = markers[0].alias if markers and markers[0].alias else name
            s = self.schema(ann)
            if default is not _MISSING:
                d = jsonable_default(default)
                if d is not None or default is None:
                    s["default"] = d
            props[key] = s
            if req:
                required.append(key)
        out = {"title": tp.__name__, "type": "object", "properties": props}
        if required:
            out["required"] = required
        doc = tp.__doc__
        if doc and not doc.startswith(tp.__name__ + "("):  # skip the dataclass-generated signature
            out["description"] = doc.strip()
        return out

    def _foreign_struct(self, tp):
        import msgspec

        (s,), defs = msgspec.json.schema_components([tp], ref_template=_REF + "{name}")
        for k, v in defs.items():
            self.components.setdefault(k, v)
        return s

    def _foreign_pydantic(self, tp):
        s = tp.model_json_schema(ref_template=_REF + "{model}", mode="validation")
        for k, v in s.pop("$defs", {}).items():
            self.components.setdefault(k, v)
        name = s.get("title") or tp.__name__
        self.components.setdefault(name, s)
        return {"$ref": _REF + name}
