"""Access-log line formats: `combined` (the default), `json`, or a template of `{field}`s.

Every value that came from the client is escaped so that it cannot forge a field or a line: in
`combined` and templates `"` and `\\` are backslash-escaped and any byte outside printable ASCII
becomes `\\xHH`; `json` leaves it to json.dumps (which escapes quotes, controls and non-ASCII).
"""
from __future__ import annotations

import json
import re
import string
from json.encoder import encode_basestring_ascii as _json_str  # the C escaper json.dumps uses

# The fields a record carries (docs/operations.md lists them with their meaning).
FIELDS = ("time", "remote", "method", "path", "query", "protocol", "status", "bytes_in", "bytes_out",
          "duration_ms", "queue_ms", "app_ms", "write_ms", "request_id", "worker", "error", "referer",
          "user_agent", "host")
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


def _escape_char(m) -> str:
    c = m.group(0)
    return "\\" + c if c in '"\\' else f"\\x{ord(c):02x}" if ord(c) < 256 else c.encode("unicode_escape").decode()


def escape(value) -> str:
    """A value that cannot end its field: quotes, backslashes and controls escaped."""
    if value is None or value == "":
        return "-"
    text = value if type(value) is str else str(value)
    return _UNSAFE.sub(_escape_char, text) if _UNSAFE.search(text) else text


def combined(r: dict) -> str:
    target = r["path"] + ("?" + r["query"] if r["query"] else "")
    line = '%s - - [%s] "%s %s %s" %s %s "%s" "%s" D=%d' % (
        escape(r["remote"]), r["time_clf"], escape(r["method"]), escape(target), escape(r["protocol"]),
        r["status"] or "-", r["bytes_out"] or "-", escape(r["referer"]), escape(r["user_agent"]),
        int(r["duration_ms"] * 1000))
    if r["request_id"]:
        line += f' rid={escape(r["request_id"])}'
    if r["error"]:
        line += f' error="{escape(r["error"])}"'
    return line


def _json_value(value) -> str:
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return _json_str(value)
    if kind is int or kind is float:
        return repr(value)
    return json.dumps(value)


_JSON_KEYS = tuple(_json_str(key) + ":" for key in FIELDS)


def as_json(r: dict) -> str:
    """One JSON object per line, keys in FIELDS order; json.loads reads it back exactly.  Joined by
    hand from the C string escaper: json.dumps of a dict is about twice the cost."""
    return "{" + ",".join([k + _json_value(r[f]) for k, f in zip(_JSON_KEYS, FIELDS)]) + "}"


def compile_format(spec: str):
    """The formatter for --access-log-format: a function record -> line.  ValueError for a bad one."""
    if spec == "combined":
        return combined
    if spec == "json":
        return as_json
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(spec) if name is not None]
    except ValueError as exc:
        raise ValueError(f"bad access log template {spec!r}: {exc}") from None
    if not names:
        raise ValueError(f"expected 'combined', 'json' or a template with {{field}}s, got {spec!r}")
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise ValueError(f"unknown access log field {unknown[0]!r}; fields: {', '.join(FIELDS)}")

    def template(r: dict) -> str:
        return spec.format_map({name: escape(r[name]) for name in names})

    return template
