"""URL converters: the typed parts of a rule such as ``<int:id>``.

A converter has a ``regex`` for one path segment (or more, for ``path``),
``to_python`` to turn the matched text into a value (raising ``ValueError``
means "this rule does not match", so the router tries the next one) and
``to_url`` for building URLs.

``priority`` orders converters that compete for the same segment: lower is
tried first. Narrow converters (uuid, int) go before wide ones (string) so
``/n/<int:id>`` and ``/n/<name>`` can coexist whatever their order of
registration. ``path`` is tried last of all.
"""

import re
import uuid
from urllib.parse import quote

__all__ = [
    "BaseConverter", "StringConverter", "IntegerConverter", "FloatConverter",
    "PathConverter", "UUIDConverter", "AnyConverter", "DEFAULT_CONVERTERS",
]


class BaseConverter:
    regex = "[^/]+"
    priority = 50
    #: True when the converter may match across "/" (only ``path``).
    part_isolating = True

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise TypeError(f"{type(self).__name__} takes no arguments")
        self.args: tuple = ()

    def to_python(self, value):
        return value

    def to_url(self, value):
        return quote(str(value), safe="")

    def _compile(self):
        # Compiled once per converter instance; fullmatch is the per-request call.
        self._fullmatch = re.compile(self.regex).fullmatch

    @property
    def identity(self):
        # Custom converters may skip calling BaseConverter.__init__.
        return (type(self), getattr(self, "args", ()))

    def __eq__(self, other):
        return isinstance(other, BaseConverter) and self.identity == other.identity

    def __hash__(self):
        return hash(self.identity)

    def __repr__(self):
        return f"{type(self).__name__}{getattr(self, 'args', ())!r}"


class StringConverter(BaseConverter):
    """Any text without a slash; ``length``, ``minlength``, ``maxlength``."""

    def __init__(self, minlength=1, maxlength=None, length=None):
        if length is not None:
            minlength = maxlength = int(length)
        minlength = int(minlength)
        if minlength < 1:
            raise ValueError("string converter minlength must be at least 1")
        if maxlength is not None:
            maxlength = int(maxlength)
            if maxlength < minlength:
                raise ValueError("string converter maxlength is below minlength")
        self.args = (minlength, maxlength)
        upper = "" if maxlength is None else maxlength
        self.regex = f"[^/]{{{minlength},{upper}}}"
        # Bounded strings sort before unbounded ones: they are narrower.
        self.priority = 50 if maxlength is None else 45


class IntegerConverter(BaseConverter):
    """Decimal integers; ``min``, ``max``, ``signed``, ``fixed_digits``."""

    priority = 20

    def __init__(self, fixed_digits=0, min=None, max=None, signed=False):
        self.fixed_digits = int(fixed_digits)
        self.min = min
        self.max = max
        self.signed = bool(signed)
        self.args = (self.fixed_digits, min, max, self.signed)
        # [0-9], not \d: \d and int() would both accept digits such as "١٢".
        digits = "[0-9]+" if not self.fixed_digits else f"[0-9]{{{self.fixed_digits}}}"
        self.regex = ("-?" if self.signed else "") + digits
        if min is None and max is None:
            # The regex has already checked everything: int itself converts.
            self.fast_to_python = int

    def to_python(self, value):
        if self.fixed_digits and len(value.lstrip("-")) != self.fixed_digits:
            raise ValueError(value)
        if not value.isascii():
            raise ValueError(value)
        n = int(value)
        if (self.min is not None and n < self.min) or (self.max is not None and n > self.max):
            raise ValueError(value)
        return n

    def to_url(self, value):
        n = int(value)
        if n < 0 and not self.signed:
            raise ValueError(f"negative value {n} for unsigned int converter")
        if self.fixed_digits:
            return f"{n:0{self.fixed_digits}d}"
        return str(n)


class FloatConverter(BaseConverter):
    """Decimal numbers with a point; ``min``, ``max``, ``signed``."""

    priority = 30

    def __init__(self, min=None, max=None, signed=False):
        self.min = min
        self.max = max
        self.signed = bool(signed)
        self.args = (min, max, self.signed)
        self.regex = ("-?" if self.signed else "") + r"[0-9]+\.[0-9]+"

    def to_python(self, value):
        if not value.isascii():
            raise ValueError(value)
        x = float(value)
        if (self.min is not None and x < self.min) or (self.max is not None and x > self.max):
            raise ValueError(value)
        return x

    def to_url(self, value):
        return repr(float(value))


class PathConverter(BaseConverter):
    """Like string but also takes slashes: ``/files/<path:name>``."""

    regex = "[^/].*?"
    priority = 1000
    part_isolating = False

    def __init__(self):
        self.args = ()

    def to_url(self, value):
        return quote(str(value), safe="/")


class UUIDConverter(BaseConverter):
    priority = 10
    regex = r"[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}"

    def __init__(self):
        self.args = ()

    def to_python(self, value):
        return uuid.UUID(value)

    def to_url(self, value):
        return str(value)


class AnyConverter(BaseConverter):
    """One of a fixed set of words: ``<any(about, help):page>``."""

    priority = 15

    def __init__(self, *items):
        if not items:
            raise ValueError("any() converter needs at least one item")
        self.items = tuple(str(i) for i in items)
        self.args = self.items
        self.regex = "(?:" + "|".join(re.escape(i) for i in sorted(self.items, key=len, reverse=True)) + ")"

    def to_url(self, value):
        value = str(value)
        if value not in self.items:
            raise ValueError(f"{value!r} is not one of {self.items}")
        return quote(value, safe="")


DEFAULT_CONVERTERS = {
    "default": StringConverter,
    "string": StringConverter,
    "int": IntegerConverter,
    "float": FloatConverter,
    "path": PathConverter,
    "uuid": UUIDConverter,
    "any": AnyConverter,
}
