"""JSON in and out: bounded parsing for request bodies, tolerant dumping.

The stdlib parser recurses once per nesting level, so a body such as
``[[[[...]]]]`` a hundred thousand deep raises RecursionError, which would
otherwise surface as a 500. ``nesting_depth`` measures the depth first with
C-speed passes (regex to drop strings, translate to keep brackets,
accumulate for the running depth), so hostile bodies are refused with a 400
before the parser sees them, in time linear in the body size.
"""

import dataclasses
import datetime
import decimal
import json
import re
import uuid
from itertools import accumulate

__all__ = ["dumps", "nesting_depth", "JSONDepthError"]

# A string, or an unterminated string running to the end. Making the closing
# quote optional means a failed string never restarts the scan later on, so
# the pass stays linear even on junk such as '\\"\\"\\"...'.
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# "[" and "{" map to +1, "]" and "}" to -1.
_DELTA = [0] * 256
_DELTA[ord("[")] = _DELTA[ord("{")] = 1
_DELTA[ord("]")] = _DELTA[ord("}")] = -1


class JSONDepthError(ValueError):
    pass


def nesting_depth(data):
    """Deepest array/object nesting in a JSON document given as bytes."""
    if data.count(b"[") + data.count(b"{") == 0:
        return 0
    brackets = _STRINGS.sub(b"", data).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_DELTA.__getitem__, brackets))))


def loads_bounded(data, max_depth):
    """Parse ``data`` (bytes) refusing nesting deeper than ``max_depth``."""
    # Depth can never exceed the number of opening brackets, so small or
    # flat documents skip the scan entirely.
    if max_depth is not None and data.count(b"[") + data.count(b"{") > max_depth:
        depth = nesting_depth(data)
        if depth > max_depth:
            raise JSONDepthError(f"JSON nesting depth {depth} exceeds the limit of {max_depth}")
    try:
        return json.loads(data)
    except RecursionError:
        # Only reachable when the depth limit is disabled.
        raise JSONDepthError("JSON nesting too deep to parse") from None


def _default(o):
    if isinstance(o, (datetime.datetime, datetime.date, datetime.time)):
        return o.isoformat()
    if isinstance(o, (uuid.UUID, decimal.Decimal)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if isinstance(o, (set, frozenset)):
        return list(o)
    if hasattr(o, "__json__"):
        return o.__json__()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=_default, allow_nan=False
).encode
_pretty = json.JSONEncoder(
    ensure_ascii=False, indent=2, default=_default, allow_nan=False
).encode

try:
    from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - interpreters without the C accelerator
    c_make_encoder = None

if c_make_encoder is not None:
    # JSONEncoder.encode builds a fresh C encoder on every call; building it
    # once saves several calls per response. markers=None turns off the
    # circular-reference check, whose shared dict would not be thread-safe;
    # a circular structure still fails (RecursionError), just less politely.
    _c_encode = c_make_encoder(
        None, _default, encode_basestring, None, ":", ",", False, False, False
    )
    _join = "".join

    def _fast(obj):
        return _join(_c_encode(obj, 0))
else:  # pragma: no cover
    _fast = _encode


def dumps(obj, pretty=False):
    """Compact UTF-8-ready JSON text; NaN/Infinity are refused (not valid JSON)."""
    return _pretty(obj) if pretty else _fast(obj)
