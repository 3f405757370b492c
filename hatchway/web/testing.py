"""A test client that drives the app through WSGI and checks what comes back.

Every response is validated against PEP 3333 and HTTP/1.1 rules (status
line, header names and values, hop-by-hop headers, Content-Length against
the real body, bodies on HEAD/204/304, Location on redirects, Allow on 405,
close() on the result). A violation raises :class:`WSGIViolation`, an
AssertionError, so a test fails loudly instead of passing on output a real
server would have mangled.
"""

import io
import json as _json
import re
import time
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes, urlencode, urljoin, urlsplit

from .datastructures import Headers
from .request import unquote_cookie

__all__ = ["TestClient", "TestResponse", "WSGIViolation", "validate_wsgi_call"]

_STATUS = re.compile(r"([1-5]\d\d) ([^\x00-\x08\x0a-\x1f\x7f]*)\Z")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOP_BY_HOP = frozenset([
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
])
_REDIRECTS = (301, 302, 303, 307, 308)


class WSGIViolation(AssertionError):
    """The application broke the WSGI protocol or produced invalid HTTP."""


def _fail(msg):
    raise WSGIViolation(msg)


class _Call:
    """Captures one WSGI call: start_response, write() and the result."""

    def __init__(self):
        self.status = None
        self.headers = None
        self.body_started = False
        self.chunks = []

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            if self.body_started:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            _fail("start_response() called a second time without exc_info")
        if type(status) is not str:
            _fail(f"status must be a native str, got {type(status).__name__}: {status!r}")
        if not _STATUS.match(status):
            _fail(f"malformed status line {status!r} (want '<3 digits> <reason>')")
        if int(status[:3]) < 200:
            _fail(f"a WSGI app cannot send an interim {status!r} as its final status")
        if type(headers) is not list:
            _fail(f"response headers must be a list, got {type(headers).__name__}")
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                _fail(f"each header must be a (name, value) tuple, got {item!r}")
            name, value = item
            if type(name) is not str or type(value) is not str:
                _fail(f"header name and value must be native str: {item!r}")
            if not _TOKEN.match(name):
                _fail(f"invalid header name {name!r}")
            if _BAD_VALUE.search(value):
                _fail(f"header {name!r} has control characters (CR/LF/NUL...) in {value!r}")
            if value != value.strip(" \t"):
                _fail(f"header {name!r} value has leading/trailing whitespace: {value!r}")
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                _fail(f"header {name!r} value is not latin-1: {value!r}")
            if name.lower() in _HOP_BY_HOP:
                _fail(f"hop-by-hop header {name!r} is reserved for the server (PEP 3333)")
        self.status = status
        self.headers = headers
        return self.write

    def write(self, data):
        if self.status is None:
            _fail("write() called before start_response()")
        if type(data) is not bytes:
            _fail(f"write() takes bytes, got {type(data).__name__}")
        self.body_started = True
        self.chunks.append(data)


def validate_wsgi_call(app, environ):
    """Call ``app`` and return (status, headers, body) after checking them all."""
    call = _Call()
    result = app(environ, call.start_response)
    if isinstance(result, (str, bytes)):
        _fail(f"the app returned a {type(result).__name__}; it must return an iterable of bytes")
    try:
        for chunk in result:
            if type(chunk) is not bytes:
                _fail(f"the body iterable yielded {type(chunk).__name__}, not bytes: {chunk!r:.80}")
            if call.status is None:
                _fail("the body yielded data before start_response() was called")
            if chunk:
                call.body_started = True
            call.chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if call.status is None:
        _fail("the app finished without calling start_response()")
    body = b"".join(call.chunks)
    _check_http(environ, call.status, call.headers, body)
    return call.status, call.headers, body


def _check_http(environ, status, headers, body):
    code = int(status[:3])
    names = [k.lower() for k, _ in headers]
    for unique in ("content-length", "content-type", "location"):
        if names.count(unique) > 1:
            _fail(f"{unique} sent {names.count(unique)} times")
    hmap = {k.lower(): v for k, v in headers}
    method = environ["REQUEST_METHOD"]
    if "content-length" in hmap:
        cl = hmap["content-length"]
        if not cl.isdigit():
            _fail(f"Content-Length {cl!r} is not a non-negative integer")
        if code in (204, 304):
            if code == 204:
                _fail("a 204 response must not carry Content-Length")
        elif method != "HEAD" and int(cl) != len(body):
            _fail(f"Content-Length says {cl} but the body has {len(body)} bytes")
    if method == "HEAD" and body:
        _fail(f"a response to HEAD carried {len(body)} body bytes")
    if code in (204, 304) and body:
        _fail(f"a {code} response carried {len(body)} body bytes")
    if code in _REDIRECTS and "location" not in hmap:
        _fail(f"a {code} redirect without a Location header")
    if code == 405 and "allow" not in hmap:
        _fail("a 405 response without an Allow header")
    if body and "content-type" not in hmap:
        _fail("a response with a body but no Content-Type")
    for k, v in headers:
        if k.lower() == "set-cookie":
            name = v.split("=", 1)[0]
            if "=" not in v or not _TOKEN.match(name):
                _fail(f"malformed Set-Cookie {v!r}")


class TestResponse:
    """What a request through the test client produced."""

    __test__ = False  # not a pytest test class

    def __init__(self, status, headers, data, request_environ):
        self.status = status
        self.status_code = int(status[:3])
        self.headers = Headers()
        self.headers._list = list(headers)
        self.data = data
        self.environ = request_environ
        self.history = []

    @property
    def text(self):
        ct = self.headers.get("Content-Type", "")
        m = re.search(r"charset=([\w-]+)", ct)
        return self.data.decode(m.group(1) if m else "utf-8", "replace")

    def get_data(self, as_text=False):
        return self.text if as_text else self.data

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    @property
    def mimetype(self):
        ct = self.content_type
        return ct.split(";", 1)[0].strip().lower() if ct else None

    @property
    def location(self):
        return self.headers.get("Location")

    def get_json(self):
        """The body parsed as JSON (any JSON-ish content type), or None if it is not JSON."""
        mt = self.mimetype or ""
        if not (mt == "application/json" or mt.endswith("+json")):
            return None
        return _json.loads(self.data)

    @property
    def json(self):
        return self.get_json()

    def __repr__(self):
        return f"<TestResponse {self.status} {len(self.data)} bytes>"


class _Cookie:
    __slots__ = ("value", "path", "expires")

    def __init__(self, value, path, expires):
        self.value = value
        self.path = path
        self.expires = expires


def _is_file(value):
    return isinstance(value, tuple) or hasattr(value, "read")


def _has_files(data):
    for v in data.values():
        if _is_file(v) or (isinstance(v, list) and any(_is_file(x) for x in v)):
            return True
    return False


def _quote_param(value):
    # As browsers do (WHATWG): percent-encode only CR, LF and the quote.
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_multipart(data, boundary=None):
    """``data`` as a multipart/form-data body, the Werkzeug way.

    Values: ``str`` (or anything ``str()``-able) is a text field; a file
    object, or a tuple ``(file, filename)`` / ``(file, filename,
    content_type)``, is a file part (``file`` may also be bytes); a list
    repeats the field. Returns ``(body, content_type)``.
    """
    import os
    import secrets

    boundary = boundary or "----hatchway" + secrets.token_hex(12)
    out = []
    for name, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            if _is_file(value):
                if isinstance(value, tuple):
                    f, filename, *rest = value
                    ctype = rest[0] if rest else None
                else:
                    f, filename, ctype = value, getattr(value, "name", None), None
                    filename = os.path.basename(filename) if isinstance(filename, str) else "file"
                content = f if isinstance(f, (bytes, bytearray)) else f.read()
                if isinstance(content, str):
                    content = content.encode()
                out.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_param(name)}"; '
                    f'filename="{_quote_param(filename or "")}"\r\n'
                    f'Content-Type: {ctype or "application/octet-stream"}\r\n\r\n'.encode()
                )
                out.append(bytes(content))
                out.append(b"\r\n")
            else:
                raw = bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode()
                out.append(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_param(name)}"'
                    "\r\n\r\n".encode() + raw + b"\r\n"
                )
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class TestClient:
    """Sends requests to an app in-process, keeping cookies between calls."""

    __test__ = False

    def __init__(self, app, use_cookies=True, base_url="http://localhost", validate=True):
        self.app = app
        self.use_cookies = use_cookies
        self.validate = validate
        parts = urlsplit(base_url)
        self.scheme = parts.scheme or "http"
        self.host = parts.netloc or "localhost"
        self.script_root = parts.path.rstrip("/")
        self.cookies = {}

    def __enter__(self):
        self.app.startup()
        return self

    def __exit__(self, *exc):
        self.app.shutdown()

    # cookies
    def get_cookie(self, name):
        c = self.cookies.get(name)
        if c is None or (c.expires is not None and c.expires <= time.time()):
            return None
        return unquote_cookie(c.value)

    def set_cookie(self, name, value, path="/"):
        self.cookies[name] = _Cookie(value, path, None)

    def delete_cookie(self, name):
        self.cookies.pop(name, None)

    def _cookie_header(self, path):
        now = time.time()
        pairs = []
        for name, c in list(self.cookies.items()):
            if c.expires is not None and c.expires <= now:
                del self.cookies[name]
                continue
            if path == c.path or path.startswith(c.path.rstrip("/") + "/") or c.path == "/":
                pairs.append(f"{name}={c.value}")
        return "; ".join(pairs)

    def _store_cookies(self, headers):
        for k, v in headers:
            if k.lower() != "set-cookie":
                continue
            first, *attrs = [p.strip() for p in v.split(";")]
            name, _, raw = first.partition("=")
            path = "/"
            expires = None
            for attr in attrs:
                key, _, val = attr.partition("=")
                key = key.lower()
                if key == "path" and val:
                    path = val
                elif key == "max-age":
                    expires = time.time() + int(val)
                elif key == "expires" and expires is None:
                    try:
                        expires = parsedate_to_datetime(val).timestamp()
                    except (TypeError, ValueError):
                        pass
            if expires is not None and expires <= time.time():
                self.cookies.pop(name, None)
            else:
                # Keep the wire form; the app unquotes when it reads the cookie.
                self.cookies[name] = _Cookie(raw, path, expires)

    # requests
    def open(self, path="/", method="GET", *, json=None, data=None, headers=None,
             query_string=None, content_type=None, follow_redirects=False,
             environ_overrides=None):
        environ = self._environ(path, method, json, data, headers, query_string,
                                content_type, environ_overrides)
        response = self._run(environ)
        if not follow_redirects:
            return response
        history = []
        seen = 0
        while response.status_code in _REDIRECTS:
            seen += 1
            if seen > 10:
                raise WSGIViolation("more than 10 redirects")
            history.append(response)
            target = urljoin(f"{self.scheme}://{self.host}{environ['PATH_INFO']}", response.location)
            parts = urlsplit(target)
            keep = response.status_code in (307, 308)
            next_method = method if keep else ("GET" if method not in ("GET", "HEAD") else method)
            environ = self._environ(
                parts.path or "/", next_method,
                json if keep else None, data if keep else None, headers,
                parts.query or None, content_type if keep else None, environ_overrides,
                root_relative=True,
            )
            method = next_method
            response = self._run(environ)
        response.history = history
        return response

    def _run(self, environ):
        if self.validate:
            status, headers, body = validate_wsgi_call(self.app, environ)
        else:
            captured: list = []

            def start_response(status, headers, exc_info=None):
                captured.extend((status, headers))
                return lambda data: None
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            status, headers = captured[-2:]
        if self.use_cookies:
            self._store_cookies(headers)
        return TestResponse(status, headers, body, environ)

    def _environ(self, path, method, json, data, headers, query_string, content_type,
                 overrides, root_relative=False):
        if "?" in path:
            path, _, qs = path.partition("?")
        else:
            qs = ""
        if query_string is not None:
            if isinstance(query_string, (dict, list, tuple)):
                query_string = urlencode(query_string, doseq=True)
            qs = f"{qs}&{query_string}" if qs else query_string
        if root_relative and self.script_root and path.startswith(self.script_root):
            path = path[len(self.script_root):] or "/"
        body = b""
        if json is not None:
            if data is not None:
                raise TypeError("pass json= or data=, not both")
            body = _json.dumps(json).encode()
            content_type = content_type or "application/json"
        elif isinstance(data, dict) and (
            _has_files(data) or (content_type or "").startswith("multipart/form-data")
        ):
            body, content_type = encode_multipart(data)
        elif isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
            content_type = content_type or "application/x-www-form-urlencoded"
        elif isinstance(data, str):
            body = data.encode()
        elif data is not None:
            body = bytes(data)
        host, _, port = self.host.partition(":")
        environ = {
            "REQUEST_METHOD": method.upper(),
            "SCRIPT_NAME": self.script_root,
            # WSGI carries the raw path bytes as latin-1 text.
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": qs,
            "SERVER_NAME": host,
            "SERVER_PORT": port or ("443" if self.scheme == "https" else "80"),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": self.host,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            environ["CONTENT_LENGTH"] = str(len(body))
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        if headers:
            items = headers.items() if hasattr(headers, "items") else headers
            for k, v in items:
                key = k.upper().replace("-", "_")
                if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    environ[key] = v
                else:
                    environ["HTTP_" + key] = v
        if self.use_cookies and "HTTP_COOKIE" not in environ:
            cookie = self._cookie_header(path)
            if cookie:
                environ["HTTP_COOKIE"] = cookie
        if overrides:
            environ.update(overrides)
        return environ

    def get(self, path="/", **kw):
        return self.open(path, "GET", **kw)

    def post(self, path="/", **kw):
        return self.open(path, "POST", **kw)

    def put(self, path="/", **kw):
        return self.open(path, "PUT", **kw)

    def patch(self, path="/", **kw):
        return self.open(path, "PATCH", **kw)

    def delete(self, path="/", **kw):
        return self.open(path, "DELETE", **kw)

    def head(self, path="/", **kw):
        return self.open(path, "HEAD", **kw)

    def options(self, path="/", **kw):
        return self.open(path, "OPTIONS", **kw)

