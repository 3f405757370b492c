"""Converters from text (query, header, cookie, path) and constraint checks, built once per parameter.

``text_converter(tp, marker)`` returns ``f(str) -> value`` raising ValueError
with the reason, or None when the text is taken as it is.
"""

import datetime
import decimal
import enum
import re
import typing
import uuid

from .types import strip_optional, unwrap

__all__ = ["text_converter", "constraint_checker", "TEXT_CONVERTERS", "describe"]

_INT_TEXT = re.compile(r"[+-]?[0-9]+").fullmatch
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?").fullmatch
_TRUE = frozenset(("true", "t", "1", "yes", "y", "on"))
_FALSE = frozenset(("false", "f", "0", "no", "n", "off"))


_INFINITIES = (float("inf"), float("-inf"))


def describe(tp):
    return getattr(tp, "__name__", None) or str(tp)


# ------------------------------------------------------------- constraints

def constraint_checker(marker):
    """``f(value) -> value`` raising ValueError, or None when nothing to check."""
    if marker is None or not marker.has_constraints:
        return None
    gt, ge, lt, le, mult = marker.gt, marker.ge, marker.lt, marker.le, marker.multiple_of
    mn, mx, rx = marker.min_length, marker.max_length, marker._regex

    def check(v):
        if gt is not None and not v > gt:
            raise ValueError(f"must be > {gt}")
        if ge is not None and not v >= ge:
            raise ValueError(f"must be >= {ge}")
        if lt is not None and not v < lt:
            raise ValueError(f"must be < {lt}")
        if le is not None and not v <= le:
            raise ValueError(f"must be <= {le}")
        if mult is not None and v % mult:
            raise ValueError(f"must be a multiple of {mult}")
        if mn is not None and len(v) < mn:
            raise ValueError(f"must have at least {mn} {'characters' if type(v) is str else 'items'}")
        if mx is not None and len(v) > mx:
            raise ValueError(f"must have at most {mx} {'characters' if type(v) is str else 'items'}")
        if rx is not None and rx.search(v) is None:
            raise ValueError(f"must match the pattern {rx.pattern!r}")
        return v

    return check


# ------------------------------------------------------------ from text

def _int_text(s):
    if _INT_TEXT(s) is None:
        raise ValueError("expected an integer")
    return int(s)


def _float_text(s):
    if _FLOAT_TEXT(s) is None:
        raise ValueError("expected a number")
    v = float(s)
    if v in _INFINITIES:  # "1e999" overflows; it could not be sent back as JSON either
        raise ValueError("expected a finite number")
    return v


def _bool_text(s):
    low = s.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected a boolean (true/false, t/f, 1/0, yes/no, y/n, on/off)")


def _uuid_text(s):
    try:
        return uuid.UUID(s)
    except (ValueError, AttributeError, TypeError):
        raise ValueError("expected a UUID") from None


def _datetime_text(s):
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except (ValueError, TypeError):
        raise ValueError("expected an ISO 8601 date-time") from None


def _date_text(s):
    try:
        if len(s) != 10:
            raise ValueError
        return datetime.date.fromisoformat(s)
    except (ValueError, TypeError):
        raise ValueError("expected an ISO 8601 date (YYYY-MM-DD)") from None


def _decimal_text(s):
    try:
        d = decimal.Decimal(s)
    except (decimal.InvalidOperation, TypeError):
        raise ValueError("expected a decimal number") from None
    if not d.is_finite():
        raise ValueError("expected a finite decimal number")
    return d


def _enum_text(cls):
    members = {str(m.value): m for m in cls}
    choices = ", ".join(repr(k) for k in members)

    def conv(s):
        try:
            return members[s]
        except KeyError:
            raise ValueError(f"expected one of {choices}") from None

    return conv


def _literal_text(values):
    table = {str(v).lower() if type(v) is bool else str(v): v for v in values}
    choices = ", ".join(repr(k) for k in table)

    def conv(s):
        try:
            return table[s]
        except KeyError:
            raise ValueError(f"expected one of {choices}") from None

    return conv


TEXT_CONVERTERS = _TEXT = {
    int: _int_text, float: _float_text, bool: _bool_text, uuid.UUID: _uuid_text,
    datetime.datetime: _datetime_text, datetime.date: _date_text, decimal.Decimal: _decimal_text,
}


def text_converter(tp, marker=None):
    """``f(str) -> value`` for a scalar annotation, or None for plain unconstrained str."""
    tp = strip_optional(unwrap(tp)[0])
    check = constraint_checker(marker)
    if tp is str or tp is typing.Any:
        base = None
    elif tp in _TEXT:
        base = _TEXT[tp]
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        base = _enum_text(tp)
    elif typing.get_origin(tp) is typing.Literal:
        base = _literal_text(typing.get_args(tp))
    else:
        raise TypeError(f"cannot read a {describe(tp)} from text (query, header, cookie or path)")
    if check is None:
        return base
    if base is None:
        return check
    return lambda s: check(base(s))


