"""Markers that say where a parameter comes from and what it must satisfy.

Used through ``typing.Annotated``::

    def search(q: Annotated[str, Query(min_length=2)], x_token: Annotated[str, Header()]): ...

A marker only carries data; the binder reads it once, at ``app.startup()``.
"""

import re

__all__ = ["Param", "Query", "Header", "Cookie", "Path", "Body", "Field"]

_CONSTRAINTS = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern", "multiple_of")


class Param:
    """Where a value comes from (``source``) plus constraints on it."""

    __slots__ = (
        "alias", "gt", "ge", "lt", "le", "min_length", "max_length", "pattern",
        "multiple_of", "description", "deprecated", "examples", "_regex",
    )
    source: str | None = None

    def __init__(self, alias=None, *, gt=None, ge=None, lt=None, le=None, min_length=None,
                 max_length=None, pattern=None, multiple_of=None, description=None,
                 deprecated=False, examples=None):
        self.alias = alias
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.min_length, self.max_length = min_length, max_length
        self.multiple_of = multiple_of
        self.pattern = pattern
        # Compiled here so a bad pattern fails at import time, not per request.
        self._regex = re.compile(pattern) if pattern is not None else None
        self.description = description
        self.deprecated = deprecated
        self.examples = examples

    @property
    def has_constraints(self):
        return any(getattr(self, k) is not None for k in _CONSTRAINTS)

    def __repr__(self):
        shown = ", ".join(
            f"{k}={getattr(self, k)!r}" for k in ("alias",) + _CONSTRAINTS if getattr(self, k) is not None
        )
        return f"{type(self).__name__}({shown})"


class Query(Param):
    __slots__ = ()
    source = "query"


class Header(Param):
    """A request header; ``x_token`` reads ``X-Token`` unless an alias is given."""

    __slots__ = ()
    source = "header"


class Cookie(Param):
    __slots__ = ()
    source = "cookie"


class Path(Param):
    __slots__ = ()
    source = "path"


class Body(Param):
    """The JSON body (the default for dataclass, TypedDict, Struct and model types)."""

    __slots__ = ()
    source = "body"


class Field(Param):
    """Constraints on a field of a body type: ``Annotated[int, Field(ge=0)]``."""

    __slots__ = ()
    source = None
