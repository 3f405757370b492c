"""Header and query containers.

``Headers`` is the response side: an ordered list of ``(name, value)`` pairs
that refuses values which could split a response (CR, LF, NUL) at the moment
they are set, so the bad value never reaches the wire or a log.
``EnvironHeaders`` is the request side: a read-only, case-insensitive view
over the WSGI environ that costs nothing until a header is asked for.
``MultiDict`` holds query strings and forms, with typed getters.
"""

import re

from .exceptions import BadRequest, BadRequestKeyError

__all__ = ["Headers", "EnvironHeaders", "MultiDict", "HeaderValueError"]

# RFC 9110 token: the only characters allowed in a field name.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Anything that ends or breaks a header line. Other controls are tolerated
# (HTAB is legal), these three are what response splitting is made of.
_BREAKS = re.compile(r"[\r\n\0]")


class HeaderValueError(ValueError):
    """A header name or value that would corrupt the response."""


def _check(name, value):
    if type(name) is not str or not _TOKEN.match(name):
        raise HeaderValueError(f"invalid header name {name!r}")
    if type(value) is not str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise HeaderValueError(f"header {name!r} value must be str, got {type(value).__name__}")
    if _BREAKS.search(value):
        raise HeaderValueError(f"header {name!r} value contains CR, LF or NUL: {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise HeaderValueError(f"header {name!r} value is not latin-1 encodable: {value!r}") from None
    return value


class Headers:
    """Case-insensitive, ordered, multi-valued response headers."""

    __slots__ = ("_list",)

    def __init__(self, items=None):
        self._list = []
        if items:
            self.extend(items)

    # reading
    def __getitem__(self, name):
        lname = name.lower()
        for k, v in self._list:
            if k.lower() == lname:
                return v
        raise KeyError(name)

    def get(self, name, default=None, type=None):
        try:
            value = self[name]
        except KeyError:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default

    def getlist(self, name):
        lname = name.lower()
        return [v for k, v in self._list if k.lower() == lname]

    get_all = getlist

    def __contains__(self, name):
        lname = name.lower()
        for k, _ in self._list:
            if k.lower() == lname:
                return True
        return False

    def __iter__(self):
        return iter(self._list)

    def __len__(self):
        return len(self._list)

    def keys(self):
        return [k for k, _ in self._list]

    def values(self):
        return [v for _, v in self._list]

    def items(self):
        return list(self._list)

    def to_wsgi_list(self):
        return list(self._list)

    # writing
    def __setitem__(self, name, value):
        self.set(name, value)

    def set(self, name, value):
        """Replace every header called ``name`` with one value."""
        value = _check(name, value)
        lname = name.lower()
        lst = self._list
        for i, (k, _) in enumerate(lst):
            if k.lower() == lname:
                lst[i] = (name, value)
                # Drop later duplicates so exactly one remains.
                lst[i + 1:] = [kv for kv in lst[i + 1:] if kv[0].lower() != lname]
                return
        lst.append((name, value))

    def add(self, name, value):
        """Append a header, keeping any existing ones of the same name."""
        self._list.append((name, _check(name, value)))

    def setdefault(self, name, value):
        if name in self:
            return self[name]
        self.set(name, value)
        return self[name]

    def extend(self, items):
        if hasattr(items, "items") and not isinstance(items, Headers):
            items = items.items()
        for k, v in items:
            self.add(k, v)

    update = extend

    def __delitem__(self, name):
        lname = name.lower()
        before = len(self._list)
        self._list = [kv for kv in self._list if kv[0].lower() != lname]
        if len(self._list) == before:
            raise KeyError(name)

    def remove(self, name):
        """Delete ``name`` if present; no error when absent."""
        lname = name.lower()
        self._list = [kv for kv in self._list if kv[0].lower() != lname]

    def pop(self, name, *default):
        try:
            value = self[name]
        except KeyError:
            if default:
                return default[0]
            raise
        self.remove(name)
        return value

    def clear(self):
        self._list.clear()

    def copy(self):
        h = Headers()
        h._list = list(self._list)
        return h

    def __eq__(self, other):
        if isinstance(other, Headers):
            return self._list == other._list
        return NotImplemented

    def __repr__(self):
        return f"Headers({self._list!r})"


class EnvironHeaders:
    """Read-only, case-insensitive request headers straight from the environ."""

    __slots__ = ("_environ",)

    def __init__(self, environ):
        self._environ = environ

    @staticmethod
    def _key(name):
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return key
        return "HTTP_" + key

    def __getitem__(self, name):
        try:
            return self._environ[self._key(name)]
        except KeyError:
            raise KeyError(name) from None

    def get(self, name, default=None, type=None):
        value = self._environ.get(self._key(name))
        if value is None:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default

    def __contains__(self, name):
        return self._key(name) in self._environ

    def __iter__(self):
        for key, value in self._environ.items():
            if key.startswith("HTTP_"):
                if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    continue
                yield key[5:].replace("_", "-").title(), value
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                yield key.replace("_", "-").title(), value

    def items(self):
        return list(self)

    def keys(self):
        return [k for k, _ in self]

    def __len__(self):
        return sum(1 for _ in self)

    def __repr__(self):
        return f"EnvironHeaders({list(self)!r})"


def _type_name(type_):
    return getattr(type_, "__name__", None) or repr(type_)


class MultiDict(dict):
    """A dict whose keys may carry several values.

    ``d[key]`` and ``d.get(key)`` give the first value; ``getlist`` gives all.
    A missing key through ``d[key]`` is a 400 (``BadRequestKeyError``), because
    in a view that is the client's mistake, not the server's.
    """

    __slots__ = ("where",)

    def __init__(self, pairs=(), where="field"):
        super().__init__()
        self.where = where
        if hasattr(pairs, "items"):
            pairs = pairs.items()
        setdefault = dict.setdefault
        for key, value in pairs:
            if isinstance(value, (list, tuple)):
                setdefault(self, key, []).extend(value)
            else:
                setdefault(self, key, []).append(value)

    def __getitem__(self, key):
        try:
            return dict.__getitem__(self, key)[0]
        except (KeyError, IndexError):
            raise BadRequestKeyError(key, self.where) from None

    def __setitem__(self, key, value):
        dict.__setitem__(self, key, [value])

    def add(self, key, value):
        dict.setdefault(self, key, []).append(value)

    def get(self, key, default=None, type=None):
        """First value for ``key``, converted by ``type``.

        A value that ``type`` rejects (ValueError/TypeError) gives ``default``,
        like a missing key does. Use :meth:`require` to answer 400 instead.
        """
        try:
            value = dict.__getitem__(self, key)[0]
        except (KeyError, IndexError):
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default

    def require(self, key, type=None):
        """First value for ``key``, or a 400 that names the field.

        Missing and unconvertible values both answer 400 so a view can write
        ``n = request.args.require("n", type=int)`` and trust ``n``.
        """
        try:
            value = dict.__getitem__(self, key)[0]
        except (KeyError, IndexError):
            raise BadRequestKeyError(key, self.where) from None
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            exc = BadRequest(f"Invalid {self.where} {key!r}: expected {_type_name(type)}, got {value!r}.")
            exc.field = key
            raise exc from None

    def getlist(self, key, type=None):
        values = dict.get(self, key, ())
        if type is None:
            return list(values)
        out = []
        for v in values:
            try:
                out.append(type(v))
            except (ValueError, TypeError):
                pass
        return out

    def setlist(self, key, values):
        dict.__setitem__(self, key, list(values))

    def items(self, multi=False):
        if multi:
            return [(k, v) for k, vs in dict.items(self) for v in vs]
        return [(k, vs[0]) for k, vs in dict.items(self) if vs]

    def values(self):
        return [vs[0] for vs in dict.values(self) if vs]

    def lists(self):
        return [(k, list(vs)) for k, vs in dict.items(self)]

    def to_dict(self, flat=True):
        if flat:
            return dict(self.items())
        return dict(self.lists())

    def pop(self, key, *default):
        try:
            return dict.pop(self, key)[0]
        except (KeyError, IndexError):
            if default:
                return default[0]
            raise BadRequestKeyError(key, self.where) from None

    def copy(self):
        return MultiDict(self.lists(), self.where)

    def __repr__(self):
        return f"MultiDict({self.items(multi=True)!r})"
