"""The incoming request: a lazy view over the WSGI environ.

Only ``method`` and ``path`` are computed up front (routing needs them);
everything else is parsed on first access and cached in a slot. Uncached
slots are simply left unset, so building a Request costs a handful of
attribute stores whatever the request carries.

Body access is bounded: ``max_content_length`` (413) for every reader, and
for ``json`` also a size limit (413), a nesting-depth limit (400), a
Content-Type check (415) and a 400 on malformed input, never a 500.
"""

import re
from typing import Any
from urllib.parse import parse_qsl, quote

from .ctx import RequestGlobals
from .datastructures import EnvironHeaders, MultiDict
from .exceptions import BadRequest, NotImplementedHTTP, RequestEntityTooLarge, UnsupportedMediaType
from .jsonutil import JSONDepthError, loads_bounded

__all__ = ["Request"]

_DEFAULT_MAX_CONTENT_LENGTH = 16 * 1024 * 1024
_DEFAULT_MAX_JSON_SIZE = 1024 * 1024
_DEFAULT_MAX_JSON_DEPTH = 32
_READ_CHUNK = 64 * 1024


def _wsgi_decode(s):
    """WSGI strings are bytes decoded as latin-1; recover the UTF-8 text."""
    return s.encode("latin-1").decode("utf-8", "replace")


def _parse_header_params(value):
    """``'text/html; charset=UTF-8'`` -> ``('text/html', {'charset': 'UTF-8'})``."""
    main, _, rest = value.partition(";")
    params = {}
    for item in rest.split(";"):
        k, eq, v = item.partition("=")
        if eq:
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1]
            params[k.strip().lower()] = v
    return main.strip().lower(), params


_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)


def unquote_cookie(value):
    """Undo the quoting Response.set_cookie applies (``"a\\073b"`` -> ``a;b``)."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    value = value[1:-1]
    if "\\" not in value:
        return value
    out = bytearray()
    pos = 0
    for m in _COOKIE_ESCAPE.finditer(value):
        out += value[pos:m.start()].encode("utf-8")
        out += bytes([int(m.group(1), 8)]) if m.group(1) else m.group(2).encode("utf-8")
        pos = m.end()
    out += value[pos:].encode("utf-8")
    return out.decode("utf-8", "replace")


def parse_cookie(header):
    cookies: dict = {}
    for item in header.split(";"):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        value = unquote_cookie(value.strip())
        # First occurrence wins: browsers send the most specific path first.
        cookies.setdefault(name, value)
    return cookies


class Request:
    __slots__ = (
        "environ", "app", "method", "path",
        # set by the app while dispatching
        "url_rule", "view_args", "_error",
        # lazily filled caches
        "_args", "_headers", "_cookies", "_data", "_json", "_form", "_g",
        "_max_content_length", "_content_type",
        # uploads and sessions (formparser.py, sessions.py)
        "_files", "_uploads", "_session", "_flashes",
        "__weakref__",
    )
    _error: Any  # set when the app answered an exception with a 500, for teardown (the slot starts empty)
    # The lazy caches, declared for the type checker (the slots start empty).
    _args: Any
    _headers: Any
    _cookies: Any
    _data: Any
    _json: Any
    _form: Any
    _g: Any
    _files: Any
    _content_type: Any

    def __init__(self, environ, app=None):
        self.environ = environ
        self.app = app
        self.method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        if not path.isascii():
            path = _wsgi_decode(path)
        self.path = path
        self.url_rule = None
        self.view_args = None
        self._uploads = None
        self._session = None

    def __repr__(self):
        return f"<Request {self.method} {self.path!r}>"

    @property
    def endpoint(self):
        rule = self.url_rule
        return rule.endpoint if rule is not None else None

    @property
    def blueprint(self):
        """Full name of the blueprint that owns the matched endpoint, or None."""
        rule = self.url_rule
        return rule.payload.blueprint if rule is not None else None

    @property
    def blueprints(self):
        """The matched blueprint and its parents, innermost first."""
        name = self.blueprint
        if not name:
            return []
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]

    # URL pieces
    @property
    def query_string(self):
        return self.environ.get("QUERY_STRING", "")

    @property
    def script_root(self):
        root = self.environ.get("SCRIPT_NAME", "")
        return _wsgi_decode(root).rstrip("/") if root else ""

    @property
    def full_path(self):
        qs = self.environ.get("QUERY_STRING")
        return f"{self.path}?{qs}" if qs else self.path

    @property
    def scheme(self):
        return self.environ.get("wsgi.url_scheme", "http")

    @property
    def is_secure(self):
        return self.scheme == "https"

    @property
    def host(self):
        env = self.environ
        host = env.get("HTTP_HOST")
        if host:
            return host
        host = env.get("SERVER_NAME", "localhost")
        port = env.get("SERVER_PORT", "")
        if port and (self.scheme, port) not in (("http", "80"), ("https", "443")):
            host = f"{host}:{port}"
        return host

    @property
    def host_url(self):
        return f"{self.scheme}://{self.host}/"

    @property
    def url_root(self):
        return f"{self.scheme}://{self.host}{self.script_root}/"

    @property
    def base_url(self):
        return f"{self.scheme}://{self.host}{self.script_root}{quote(self.path, safe='/:@!$&()*+,;=-._~')}"

    @property
    def url(self):
        qs = self.environ.get("QUERY_STRING")
        return f"{self.base_url}?{qs}" if qs else self.base_url

    @property
    def remote_addr(self):
        return self.environ.get("REMOTE_ADDR")

    # headers and friends
    @property
    def headers(self):
        try:
            return self._headers
        except AttributeError:
            self._headers = h = EnvironHeaders(self.environ)
            return h

    def _ctype(self):
        try:
            return self._content_type
        except AttributeError:
            self._content_type = ct = _parse_header_params(self.environ.get("CONTENT_TYPE", ""))
            return ct

    @property
    def content_type(self):
        return self.environ.get("CONTENT_TYPE", "")

    @property
    def mimetype(self):
        return self._ctype()[0]

    @property
    def mimetype_params(self):
        return dict(self._ctype()[1])

    @property
    def charset(self):
        return self._ctype()[1].get("charset", "utf-8")

    @property
    def content_length(self):
        raw = self.environ.get("CONTENT_LENGTH")
        if not raw:
            return None
        if not raw.isdigit():
            raise BadRequest(f"Invalid Content-Length header {raw!r}.")
        return int(raw)

    @property
    def user_agent(self):
        return self.environ.get("HTTP_USER_AGENT", "")

    @property
    def is_json(self):
        mt = self.mimetype
        return mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json"))

    @property
    def args(self):
        """Query string as a MultiDict (blank values kept)."""
        try:
            return self._args
        except AttributeError:
            qs = self.environ.get("QUERY_STRING", "")
            if qs and not qs.isascii():
                qs = _wsgi_decode(qs)
            self._args = args = MultiDict(
                parse_qsl(qs, keep_blank_values=True, errors="replace"), "query parameter"
            ) if qs else MultiDict((), "query parameter")
            return args

    @property
    def cookies(self):
        try:
            return self._cookies
        except AttributeError:
            raw = self.environ.get("HTTP_COOKIE", "")
            if raw and not raw.isascii():
                raw = _wsgi_decode(raw)
            self._cookies = c = parse_cookie(raw) if raw else {}
            return c

    @property
    def g(self):
        try:
            return self._g
        except AttributeError:
            self._g = g = RequestGlobals()
            return g

    # body
    @property
    def max_content_length(self):
        try:
            return self._max_content_length
        except AttributeError:
            app = self.app
            return app.config.get("MAX_CONTENT_LENGTH") if app is not None else _DEFAULT_MAX_CONTENT_LENGTH

    @max_content_length.setter
    def max_content_length(self, value):
        """Per-request override, e.g. in a before_request hook for uploads."""
        self._max_content_length = value

    def _limit(self, key, default):
        app = self.app
        return app.config.get(key, default) if app is not None else default

    def _read_body(self, limit):
        length = self.content_length
        stream = self.environ.get("wsgi.input")
        if stream is None:
            return b""
        if length is None:
            # Without a length only a server that promises an EOF (chunked
            # bodies de-chunked by the server) can be read safely.
            if not self.environ.get("wsgi.input_terminated"):
                return b""
            data = stream.read(limit + 1) if limit is not None else stream.read()
            if limit is not None and len(data) > limit:
                raise RequestEntityTooLarge(f"The request body exceeds the limit of {limit} bytes.")
            return data
        if limit is not None and length > limit:
            raise RequestEntityTooLarge(
                f"The request body ({length} bytes) exceeds the limit of {limit} bytes."
            )
        chunks = []
        remaining = length
        while remaining > 0:
            chunk = stream.read(min(remaining, _READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        if remaining > 0:
            raise BadRequest("The request body ended before Content-Length bytes arrived.")
        return b"".join(chunks)

    def get_data(self, as_text=False):
        """The whole body as bytes (or text), read once and cached."""
        try:
            data = self._data
        except AttributeError:
            data = self._data = self._read_body(self.max_content_length)
        if as_text:
            return data.decode(self.charset, "replace")
        return data

    @property
    def data(self):
        return self.get_data()

    @property
    def text(self):
        return self.get_data(as_text=True)

    @property
    def stream(self):
        """A file-like body of at most Content-Length bytes, for large uploads."""
        from .streams import LimitedStream

        length = self.content_length
        limit = self.max_content_length
        if length is not None and limit is not None and length > limit:
            raise RequestEntityTooLarge(
                f"The request body ({length} bytes) exceeds the limit of {limit} bytes."
            )
        if length is None and self.environ.get("wsgi.input_terminated"):
            from .streams import CappedStream

            return CappedStream(self.environ.get("wsgi.input"), limit)
        return LimitedStream(self.environ.get("wsgi.input"), length or 0)

    @property
    def json(self):
        """The body parsed as JSON; 415/413/400 on the wrong type, size or shape."""
        return self.get_json()

    def get_json(self, force=False, silent=False):
        try:
            return self._json
        except AttributeError:
            pass
        if not force and not self.is_json:
            if silent:
                return None
            got = self.mimetype or "no Content-Type"
            raise UnsupportedMediaType(f"Expected a JSON body (Content-Type: application/json), got {got}.")
        try:
            value = self._parse_json()
        except BadRequest:
            if silent:
                return None
            raise
        self._json = value
        return value

    def _parse_json(self):
        max_size = self._limit("MAX_JSON_SIZE", _DEFAULT_MAX_JSON_SIZE)
        limit = self.max_content_length
        if max_size is not None and (limit is None or max_size < limit):
            limit = max_size
        try:
            data = self._data
        except AttributeError:
            data = self._data = self._read_body(limit)
        else:
            if limit is not None and len(data) > limit:
                raise RequestEntityTooLarge(f"The JSON body exceeds the limit of {limit} bytes.")
        if not data:
            raise BadRequest("The request body is empty; expected JSON.")
        try:
            return loads_bounded(data, self._limit("MAX_JSON_DEPTH", _DEFAULT_MAX_JSON_DEPTH))
        except JSONDepthError as e:
            raise BadRequest(f"Invalid JSON: {e}.") from None
        except ValueError as e:
            # json.JSONDecodeError and UnicodeDecodeError are both ValueErrors.
            raise BadRequest(f"Invalid JSON: {e}.") from None

    @property
    def form(self):
        """An urlencoded body as a MultiDict; empty for other body types."""
        try:
            return self._form
        except AttributeError:
            pass
        mt = self.mimetype
        if mt == "application/x-www-form-urlencoded":
            body = self.get_data()
            try:
                text = body.decode(self.charset)
            except (UnicodeDecodeError, LookupError):
                raise BadRequest("The form body is not valid in its declared charset.") from None
            try:
                pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                                  max_num_fields=self._limit("MAX_FORM_FIELDS", 1000))
            except ValueError as e:
                raise RequestEntityTooLarge(f"Too many form fields: {e}.") from None
            form = MultiDict(pairs, "form field")
        elif mt == "multipart/form-data":
            self._load_multipart()
            return self._form
        else:
            form = MultiDict((), "form field")
        self._form = form
        return form

    @property
    def files(self):
        """Uploaded files of a multipart body: a MultiDict of FileStorage."""
        try:
            return self._files
        except AttributeError:
            pass
        if self.mimetype == "multipart/form-data":
            self._load_multipart()
        else:
            self._files = MultiDict((), "file")
        return self._files

    def _load_multipart(self):
        from .formparser import MultipartUnavailable, parse_multipart

        try:
            form, files, buffers = parse_multipart(self, self._ctype()[1].get("boundary"))
        except MultipartUnavailable as e:
            # The operator's doing, not the client's: say so once in the log,
            # answer 501 (not a 500 with a traceback).
            if self.app is not None:
                self.app.logger.error("%s", e)
            raise NotImplementedHTTP(str(e)) from None
        self._form = form
        self._files = files
        self._uploads = buffers
        if not hasattr(self, "_data"):
            # The parser consumed the stream; as in Werkzeug, get_data() is now empty.
            self._data = b""

    def close(self):
        """Close uploaded files (and delete their temporary files). The app calls this."""
        buffers = self._uploads
        if buffers is not None:
            self._uploads = None
            for _, f in self._files.items(multi=True):
                f.close()
            for b in buffers:
                b.close()

    @property
    def values(self):
        """``args`` and ``form`` together (form values after query ones)."""
        combined = MultiDict(self.args.lists(), "field")
        for k, vs in self.form.lists():
            for v in vs:
                combined.add(k, v)
        return combined

    # content negotiation
    def accepts(self, mimetype):
        """Quality (0..1) the client gives ``mimetype`` in its Accept header."""
        from .errors import accept_quality

        return accept_quality(self.environ.get("HTTP_ACCEPT"), mimetype)

    def url_for(self, endpoint, **values):
        """``app.url_for`` with relative ``.endpoint`` names resolved here."""
        if endpoint.startswith(".") and self.blueprint:
            endpoint = self.blueprint + endpoint
        elif endpoint.startswith("."):
            endpoint = endpoint[1:]
        return self.app.url_for(endpoint, _request=self, **values)
