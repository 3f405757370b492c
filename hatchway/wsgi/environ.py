"""Building the PEP 3333 environ for one request.

The constant part is built once per listener and once per connection and copied (a C-level dict
copy); per request only the request-specific keys are set.  Header names map to their CGI keys
through a bounded cache.
"""
from __future__ import annotations

from typing import Any, Final

import sys
from urllib.parse import unquote_to_bytes

from ..http import policy
from ..http.events import Request

_KEYS: Final[dict[bytes, str | None]] = {}
_KEYS_MAX: Final = 2048
_SPECIAL_KEYS: Final = {"CONTENT_TYPE", "CONTENT_LENGTH"}


def header_key(name: bytes):
    """`Content-Type` -> CONTENT_TYPE, `X-Foo` -> HTTP_X_FOO, names with `_` -> None (dropped)."""
    key = _KEYS.get(name)
    if key is None and name not in _KEYS:
        if policy.drop_header(name):
            key = None
        else:
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in _SPECIAL_KEYS:
                key = "HTTP_" + key
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[name] = key
    return key


# Keys every request sets: present (empty) in the listener's base, so the copy made per request
# already has room for them and setting them overwrites instead of inserting (no table resize).
_PER_REQUEST: Final = ("REQUEST_METHOD", "SERVER_PROTOCOL", "RAW_URI", "REQUEST_URI", "PATH_INFO", "QUERY_STRING",
                       "wsgi.input")


def _with_room(env: dict) -> dict:
    """`env` with a hash table big enough for the keys a request adds.  A dict copy keeps the table size of
    its source, as long as at most a third of its entries are deleted ones; inserting past a table's room
    resizes it, and without this that was one resize per request (the copy of a 20-key environ has room
    for one more key).  Adding keys and deleting them again grows the table for good."""
    # Deleted entries the fast copy tolerates, for this copy and the one made of it; str keys, as an int key
    # would turn the table into a general one, whose lookups are slower for good.
    room = [f"\0room{i}" for i in range(len(env) // 2 - 1)]
    for key in room:
        env[key] = None
    for key in room:
        del env[key]
    return env


def listener_environ(listener, url_scheme: str, multithread: bool, multiprocess: bool, file_wrapper) -> dict:
    name, port = listener.server_name_port
    return _with_room({
        "SERVER_NAME": name,
        "SERVER_PORT": port,
        "SCRIPT_NAME": "",
        "SERVER_SOFTWARE": "hatchway",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": file_wrapper,
        **dict.fromkeys(_PER_REQUEST, ""),
    })


def connection_environ(base: dict, addr) -> dict:
    env = base.copy()
    if addr and isinstance(addr, tuple) and addr[0]:
        env["REMOTE_ADDR"] = addr[0]
        env["REMOTE_PORT"] = str(addr[1])
    else:
        env["REMOTE_ADDR"] = ""
        env["REMOTE_PORT"] = ""
    return env


_PROTOCOLS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}


def build_environ(base: dict[str, Any], req: Request, wsgi_input: Any) -> dict[str, Any]:
    env = base.copy()
    target: bytes = req.target
    env["REQUEST_METHOD"] = req.method
    env["SERVER_PROTOCOL"] = _PROTOCOLS[req.version]
    raw = target.decode("latin-1")
    env["RAW_URI"] = raw
    env["REQUEST_URI"] = raw
    host_override = None
    # latin-1 maps bytes to code points one to one: splitting the decoded target is splitting the bytes
    if target[:1] == b"/":
        path, _, query = raw.partition("?")
    elif target == b"*":
        path, query = "*", ""
    else:
        # absolute-form: the target's authority replaces any Host header (RFC 9112 3.2.2)
        host_override, rest = policy.split_absolute(target)
        path, _, query = rest.decode("latin-1").partition("?")
        if not path:
            path = "/"
    if "#" in path:
        path = path.partition("#")[0]
    if "%" in path:
        path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
    env["PATH_INFO"] = path
    env["QUERY_STRING"] = query
    keys = _KEYS
    for name, value in req.headers:
        key = keys.get(name)
        if key is None:
            key = header_key(name)
            if key is None:
                continue
        v = value.decode("latin-1")
        if key in env:
            # Repeated fields combine into one list (RFC 9110 5.3); cookies join with "; ".
            v = env[key] + ("; " if key == "HTTP_COOKIE" else ", ") + v
        env[key] = v
    if host_override is not None:
        env["HTTP_HOST"] = host_override.decode("latin-1")
    if req.chunked:
        # No length to trust: tell Werkzeug-style readers that wsgi.input itself ends the body.
        env.pop("CONTENT_LENGTH", None)
        env["wsgi.input_terminated"] = True
    env["wsgi.input"] = wsgi_input
    return env
