"""The outgoing response and the helpers that build one.

A Response is cheap to create on the hot path: status, body bytes and the
content type sit in slots, and the ``Headers`` object is only created when
someone touches ``response.headers`` (it then takes over the content type,
so the two never disagree). ``__call__`` turns it into WSGI.
"""

import datetime
import re
import time
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import quote

from .datastructures import HeaderValueError, Headers, _check
from .filebody import FileBody
from .jsonutil import dumps

__all__ = ["Response", "redirect", "STATUS_LINES"]

STATUS_LINES = {s.value: f"{s.value} {s.phrase}" for s in HTTPStatus}
# Statuses that must not carry a body (RFC 9110 6.4.1).
_NO_BODY = frozenset([204, 304] + list(range(100, 200)))
_STATUS_RE = re.compile(r"([1-5]\d\d)(?: (.*))?\Z")
_HTML = "text/html; charset=utf-8"
_JSON = "application/json"
# RFC 6265 cookie-name is a token.
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# Values that need no quoting (same set Werkzeug leaves bare).
_COOKIE_BARE = re.compile(r"[\w!#$%&'()*+\-./:<=>?@\[\]^`{|}~]*\Z", re.ASCII)
_COOKIE_ATTR_BAD = re.compile(r"[;\r\n\0]")


def _status_from(status):
    """-> (code, custom reason or None) from 200, "200", "200 OK" or "299 Custom"."""
    if type(status) is int or isinstance(status, HTTPStatus):
        code = int(status)
        if not 100 <= code <= 599:
            raise ValueError(f"invalid HTTP status code {code}")
        return code, None
    if isinstance(status, str):
        m = _STATUS_RE.match(status.strip())
        if not m:
            raise ValueError(f"invalid HTTP status {status!r}")
        code = int(m.group(1))
        reason = m.group(2)
        if reason is not None and (_COOKIE_ATTR_BAD.search(reason) or not reason.isprintable()):
            raise ValueError(f"invalid HTTP status {status!r}")
        if reason is not None and STATUS_LINES.get(code) == f"{code} {reason}":
            reason = None
        return code, reason
    raise TypeError(f"status must be int or str, not {type(status).__name__}")


def _content_type_for(mimetype, charset="utf-8"):
    if mimetype.startswith("text/") or mimetype in ("application/xml", "application/javascript"):
        if "charset=" not in mimetype:
            return f"{mimetype}; charset={charset}"
    return mimetype


def _http_date(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        value = value.timestamp()
    elif isinstance(value, datetime.date):
        value = datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc).timestamp()
    return formatdate(value, usegmt=True)


def _quote_cookie(value):
    if _COOKIE_BARE.match(value):
        return value
    out = ['"']
    for b in value.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif b < 0x20 or b >= 0x7F or c in ",;":
            out.append(f"\\{b:03o}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


class _StreamBody:
    """Encodes str chunks of a streamed body and forwards close()."""

    __slots__ = ("_it", "_src", "_charset")

    def __init__(self, src, charset):
        self._src = src
        self._it = iter(src)
        self._charset = charset

    def __iter__(self):
        return self

    def __next__(self):
        chunk = next(self._it)
        if type(chunk) is bytes:
            return chunk
        if isinstance(chunk, str):
            return chunk.encode(self._charset)
        if isinstance(chunk, (bytearray, memoryview)):
            return bytes(chunk)
        raise TypeError(f"streamed body chunks must be str or bytes, not {type(chunk).__name__}")

    def close(self):
        close = getattr(self._src, "close", None)
        if close is not None:
            close()


class Response:
    """An HTTP response: status, headers and a body (bytes or an iterable)."""

    __slots__ = ("status_code", "_reason", "_ct", "_headers", "body", "charset", "_on_close", "__weakref__")

    default_mimetype = "text/html"

    def __init__(self, body=b"", status=200, headers=None, mimetype=None, content_type=None):
        if type(status) is int and status in STATUS_LINES:
            self.status_code = status
            self._reason = None
        else:
            self.status_code, self._reason = _status_from(status)
        self.charset = "utf-8"
        if content_type is not None:
            _check("Content-Type", content_type)
            self._ct = content_type
        elif mimetype is not None:
            self._ct = _check("Content-Type", _content_type_for(mimetype))
        else:
            self._ct = _HTML
        self._headers = None
        self._on_close = None
        t = type(body)
        if t is str:
            self.body = body.encode()
        elif t is bytes:
            self.body = body
        elif body is None:
            self.body = b""
        elif t is bytearray or t is memoryview:
            self.body = bytes(body)
        elif hasattr(body, "__iter__") and not isinstance(body, (dict, tuple)):
            # Any other iterable (generator, list of chunks, file wrapper) streams.
            self.body = body
        else:
            raise TypeError(f"response body must be str, bytes or an iterable, not {t.__name__}")
        if headers:
            h = self.headers
            for k, v in (headers.items() if hasattr(headers, "items") else headers):
                # A Content-Type among the headers replaces the default one.
                if k.lower() == "content-type":
                    h.set(k, v)
                else:
                    h.add(k, v)

    # constructors
    @classmethod
    def json(cls, obj, status=200, headers=None, pretty=False):
        """A JSON response: ``Response.json({"ok": True}, status=201)``."""
        resp = cls(dumps(obj, pretty).encode(), status, headers)
        if resp._headers is None:
            resp._ct = _JSON
        else:
            resp._headers.set("Content-Type", _JSON)
        return resp

    @classmethod
    def from_app(cls, app, environ):
        """Run a WSGI app and capture what it sends as a Response."""
        captured: list = []
        written: list = []

        def start_response(status, headers, exc_info=None):
            if exc_info and captured:
                raise exc_info[1].with_traceback(exc_info[2])
            captured[:] = [status, headers]
            return written.append

        result = app(environ, start_response)
        try:
            chunks = written + list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not captured:
            raise RuntimeError(f"WSGI app {app!r} returned without calling start_response")
        status, headers = captured
        resp = cls(b"".join(chunks), status)
        h = Headers()
        for k, v in headers:
            if k.lower() != "content-length":
                h.add(k, v)
        resp._headers = h
        resp._ct = None
        return resp

    # status
    @property
    def status(self):
        """The status line, e.g. "404 Not Found"; settable from int or str."""
        code = self.status_code
        if self._reason is not None:
            return f"{code} {self._reason}"
        return STATUS_LINES.get(code) or f"{code} Unknown"

    @status.setter
    def status(self, value):
        self.status_code, self._reason = _status_from(value)

    # headers and content type
    @property
    def headers(self):
        h = self._headers
        if h is None:
            h = Headers()
            if self._ct is not None:
                h._list.append(("Content-Type", self._ct))
            self._ct = None
            self._headers = h
        return h

    @headers.setter
    def headers(self, value):
        h = value if isinstance(value, Headers) else Headers(value)
        self._headers = h
        self._ct = None

    @property
    def content_type(self):
        if self._headers is None:
            return self._ct
        return self._headers.get("Content-Type")

    @content_type.setter
    def content_type(self, value):
        if self._headers is None:
            self._ct = _check("Content-Type", value)
        else:
            self._headers.set("Content-Type", value)

    @property
    def mimetype(self):
        ct = self.content_type
        return ct.split(";", 1)[0].strip().lower() if ct else None

    @mimetype.setter
    def mimetype(self, value):
        self.content_type = _content_type_for(value, self.charset)

    @property
    def mimetype_params(self):
        ct = self.content_type or ""
        params = {}
        for item in ct.split(";")[1:]:
            k, _, v = item.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        return params

    @property
    def location(self):
        return self.headers.get("Location")

    @location.setter
    def location(self, value):
        self.headers.set("Location", value)

    # body
    @property
    def is_streamed(self):
        return type(self.body) is not bytes

    def get_data(self, as_text=False):
        """The body as bytes; a streamed body is consumed into bytes first."""
        if type(self.body) is not bytes:
            src = self.body
            self.body = b"".join(_StreamBody(src, self.charset))
            if type(src) is FileBody:
                src.close()  # read to the end: release the descriptor now, not at GC
        return self.body.decode(self.charset, "replace") if as_text else self.body

    def set_data(self, value):
        self.body = value.encode(self.charset) if isinstance(value, str) else bytes(value)

    data = property(get_data, set_data)

    @property
    def text(self):
        return self.get_data(as_text=True)

    def get_json(self):
        import json

        return json.loads(self.get_data())

    @property
    def content_length(self):
        if self._headers is not None and "Content-Length" in self._headers:
            return int(self._headers["Content-Length"])
        return len(self.body) if type(self.body) is bytes else None

    def call_on_close(self, func):
        """Run ``func`` after the body is sent (when the server closes it)."""
        if self._on_close is None:
            self._on_close = []
        self._on_close.append(func)
        return func

    # cookies
    def set_cookie(
        self, key, value="", max_age=None, expires=None, path="/", domain=None,
        secure=False, httponly=False, samesite=None, partitioned=False,
    ):
        """Add a Set-Cookie header. Every attribute of RFC 6265bis is supported.

        ``samesite`` is "Strict", "Lax" or "None"; "None" requires ``secure``
        (browsers drop such cookies otherwise). ``partitioned`` (CHIPS)
        implies ``secure``.
        """
        if not _COOKIE_NAME.match(key or ""):
            raise ValueError(f"invalid cookie name {key!r}")
        if not isinstance(value, str):
            value = value.decode() if isinstance(value, bytes) else str(value)
        parts = [f"{key}={_quote_cookie(value)}"]
        if domain:
            if _COOKIE_ATTR_BAD.search(domain):
                raise ValueError(f"invalid cookie domain {domain!r}")
            parts.append(f"Domain={domain}")
        if max_age is not None:
            if isinstance(max_age, datetime.timedelta):
                max_age = int(max_age.total_seconds())
            max_age = int(max_age)
            if expires is None:
                expires = time.time() + max_age
        if expires is not None:
            if isinstance(expires, str):
                if _COOKIE_ATTR_BAD.search(expires):
                    raise ValueError(f"invalid cookie expires {expires!r}")
                parts.append(f"Expires={expires}")
            else:
                parts.append(f"Expires={_http_date(expires)}")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if partitioned:
            secure = True
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if path is not None:
            if _COOKIE_ATTR_BAD.search(path):
                raise ValueError(f"invalid cookie path {path!r}")
            parts.append(f"Path={path}")
        if samesite is not None:
            s = str(samesite).capitalize()
            if s not in ("Strict", "Lax", "None"):
                raise ValueError(f"samesite must be 'Strict', 'Lax' or 'None', not {samesite!r}")
            if s == "None" and not secure:
                raise ValueError("samesite='None' requires secure=True (browsers reject it otherwise)")
            parts.append(f"SameSite={s}")
        if partitioned:
            parts.append("Partitioned")
        self.headers.add("Set-Cookie", "; ".join(parts))

    def delete_cookie(self, key, path="/", domain=None, secure=False, httponly=False,
                      samesite=None, partitioned=False):
        """Expire a cookie; path and domain must match the ones it was set with."""
        self.set_cookie(
            key, "", max_age=0, expires=0, path=path, domain=domain, secure=secure,
            httponly=httponly, samesite=samesite, partitioned=partitioned,
        )

    # WSGI
    def __call__(self, environ, start_response):
        code = self.status_code
        if self._reason is None:
            try:
                status = STATUS_LINES[code]
            except KeyError:
                status = self.status
        else:
            status = f"{code} {self._reason}"
        body = self.body
        h = self._headers
        if h is None:
            headers = [("Content-Type", self._ct)] if self._ct is not None else []
        else:
            headers = h._list.copy()
        if code in _NO_BODY:
            if h is not None:
                headers = [kv for kv in headers if kv[0].lower() not in ("content-length", "content-type")]
            else:
                headers = []
            start_response(status, headers)
            self._close_body(body)
            return self._finish([])
        if type(body) is bytes:
            if h is None or "Content-Length" not in h:
                headers.append(("Content-Length", str(len(body))))
            start_response(status, headers)
            if environ["REQUEST_METHOD"] == "HEAD":
                return self._finish([])
            if self._on_close is not None:
                return self._finish([body])
            return [body]
        start_response(status, headers)
        if environ["REQUEST_METHOD"] == "HEAD":
            self._close_body(body)
            return self._finish([])
        if type(body) is FileBody and self._on_close is None:
            # The server may send it with os.sendfile (hatchway's does).
            wrapper = environ.get("wsgi.file_wrapper")
            return wrapper(body, 65536) if wrapper is not None else body
        return self._finish(_StreamBody(body, self.charset))

    # conditional requests
    def make_conditional(self, request_or_environ, accept_ranges=True, complete_length=None):
        """Answer If-None-Match/If-Modified-Since (304), If-Match (412) and Range (206/416)."""
        from .conditional import make_conditional

        return make_conditional(self, request_or_environ, accept_ranges, complete_length)

    def add_etag(self, overwrite=False, weak=False):
        """Set an ETag from a hash of the (bytes) body unless one is set."""
        if not overwrite and "ETag" in self.headers:
            return
        import hashlib

        self.set_etag(hashlib.sha1(self.get_data()).hexdigest(), weak)

    def set_etag(self, etag, weak=False):
        from .conditional import quote_etag

        self.headers.set("ETag", quote_etag(etag, weak))

    @staticmethod
    def _close_body(body):
        close = getattr(body, "close", None)
        if close is not None:
            close()

    def _finish(self, iterable):
        if self._on_close is None:
            return iterable
        return _ClosingIterator(iterable, self._on_close)

    def __repr__(self):
        size = f"{len(self.body)} bytes" if type(self.body) is bytes else "streamed"
        return f"<{type(self).__name__} {size} [{self.status}]>"


class _ClosingIterator:
    """An iterable whose close() runs callbacks; each runs even if one fails."""

    __slots__ = ("_iterable", "_it", "_callbacks")

    def __init__(self, iterable, callbacks):
        self._iterable = iterable
        self._it = iter(iterable)
        self._callbacks = list(callbacks)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        callbacks = []
        close = getattr(self._iterable, "close", None)
        if close is not None:
            callbacks.append(close)
        callbacks.extend(self._callbacks)
        error = None
        for cb in callbacks:
            try:
                cb()
            except Exception as e:  # keep running the rest, re-raise the first
                if error is None:
                    error = e
        if error is not None:
            raise error


def redirect(location, code=302, Response=None):
    """A redirect response. 303 turns any method into GET; 307/308 keep it."""
    if code not in (301, 302, 303, 307, 308):
        raise ValueError(f"{code} is not a redirect status")
    if Response is None:
        Response = globals()["Response"]
    location = quote(location, safe="/#%[]=:;$&()+,!?*@'~")
    if _COOKIE_ATTR_BAD.search(location):
        raise HeaderValueError(f"invalid redirect location {location!r}")
    from html import escape

    body = (
        "<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n"
        f'<p>You should be redirected automatically to the target URL: <a href="{escape(location)}">'
        f"{escape(location)}</a>. If not, click the link.\n"
    )
    resp = Response(body, code)
    resp.headers.add("Location", location)
    return resp
