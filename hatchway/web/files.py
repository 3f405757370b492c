"""``send_file``, ``send_from_directory`` and ``safe_join``.

Files are answered as a :class:`FileBody`, which goes out through
``wsgi.file_wrapper`` when the server offers one (hatchway's uses
``os.sendfile``). Validators, Range and Cache-Control follow Werkzeug's
``send_file`` so a Flask app's downloads behave the same; the differences
(several ranges, stricter joins) are listed in docs/web.md.
"""

import datetime
import io
import mimetypes
import os
import re
import time
import unicodedata
import zlib
from email.utils import formatdate
from urllib.parse import quote

from .conditional import make_conditional, quote_etag
from .ctx import _cv_request
from .exceptions import NotFound
from .filebody import FileBody
from .response import Response

__all__ = ["send_file", "send_from_directory", "safe_join"]

_TOKEN = frozenset("!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# RFC 5987 attr-char, besides ALPHA and DIGIT.
_ATTR_CHAR_SAFE = "!#$&+-.^_`|~"


def safe_join(directory, *pathnames):
    """Join untrusted ``pathnames`` under ``directory``, or None if that would escape it.

    Refused: ``..`` segments, absolute paths, backslashes, NUL and other
    control characters, and (unlike Werkzeug) a result whose real path,
    symlinks resolved, lies outside the real ``directory``.
    """
    if not directory:
        directory = "."
    parts = [directory]
    for name in pathnames:
        if name == "":
            continue
        name = os.fspath(name)
        if any(ord(c) < 0x20 or c == "\x7f" for c in name) or "\\" in name:
            return None
        name = name.replace("/", os.sep) if os.sep != "/" else name
        if os.path.isabs(name) or name.startswith("/"):
            return None
        normal = os.path.normpath(name)
        if normal == ".." or normal.startswith(".." + os.sep) or os.path.isabs(normal):
            return None
        if any(seg == ".." for seg in name.split("/")):
            return None
        parts.append(normal)
    joined = os.path.join(*parts)
    root = os.path.realpath(directory)
    real = os.path.realpath(joined)
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return joined


def _current_request():
    return _cv_request.get(None)


def _header_param(value):
    if value and all(c in _TOKEN for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def content_disposition(kind, filename):
    """``attachment; filename=...`` with an RFC 5987 ``filename*`` for non-ASCII names."""
    # Control characters cannot travel in a header field at all.
    filename = _CONTROL.sub("", filename)
    try:
        filename.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
        quoted = quote(filename, safe=_ATTR_CHAR_SAFE)
        return f"{kind}; filename={_header_param(simple)}; filename*=UTF-8''{quoted}"
    return f"{kind}; filename={_header_param(filename)}"


def _max_age_default(app):
    if app is None:
        return None
    value = app.config.get("SEND_FILE_MAX_AGE_DEFAULT")
    if isinstance(value, datetime.timedelta):
        return int(value.total_seconds())
    return value


def send_file(path_or_file, mimetype=None, as_attachment=False, download_name=None,
              conditional=True, etag=True, last_modified=None, max_age=None, *,
              environ=None, root_path=None):
    """A Response for a file path (relative to ``app.root_path``) or a binary file object.

    Sets Content-Type (guessed from the name), Content-Length, Last-Modified,
    an ETag for paths, Cache-Control (``no-cache``, or ``public, max-age=N``
    with ``max_age``) and Content-Disposition when there is a name; then,
    with ``conditional``, answers If-None-Match / If-Modified-Since (304) and
    Range (206, multipart/byteranges, 416) against the current request.
    """
    request = _current_request()
    app = request.app if request is not None else None
    if environ is None and request is not None:
        environ = request.environ
    if root_path is None and app is not None:
        root_path = getattr(app, "root_path", None)
    path = None
    mtime = None
    if isinstance(path_or_file, (str, os.PathLike)):
        path = os.fspath(path_or_file)
        path = os.path.join(root_path, path) if root_path else os.path.abspath(path)
        st = os.stat(path)
        mtime = st.st_mtime
        file = open(path, "rb")
        body = FileBody(file, 0, st.st_size)
    else:
        file = path_or_file
        if isinstance(file, io.TextIOBase) or not hasattr(file, "read"):
            raise ValueError("send_file needs a path or a file opened in binary mode (or a BytesIO)")
        try:
            start = file.tell()  # send from where the caller left the file, as Werkzeug does
        except (AttributeError, OSError, ValueError):
            start = None  # a pipe: read on from here
        body = FileBody(file, start)
    if download_name is None and path is not None:
        download_name = os.path.basename(path)
    headers = []
    if mimetype is None:
        if download_name is None:
            body.close()
            raise TypeError(
                "send_file cannot guess the MIME type without a file name: "
                "pass download_name=, a path instead of a file, or mimetype="
            )
        mimetype, encoding = mimetypes.guess_type(download_name)
        if mimetype is None:
            mimetype = "application/octet-stream"
        # A .tar.gz sent as an attachment is saved as is, not unpacked.
        if encoding is not None and not as_attachment:
            headers.append(("Content-Encoding", encoding))
    if download_name is not None:
        headers.append(("Content-Disposition",
                        content_disposition("attachment" if as_attachment else "inline", download_name)))
    elif as_attachment:
        body.close()
        raise TypeError("send_file(as_attachment=True) needs download_name= when given a file object")
    rv = Response(body, 200, headers, mimetype=mimetype)
    h = rv.headers
    if body.length is not None:
        h.set("Content-Length", str(body.length))
    if last_modified is not None:
        if isinstance(last_modified, (int, float)):
            h.set("Last-Modified", formatdate(last_modified, usegmt=True))
        elif isinstance(last_modified, datetime.datetime):
            dt = last_modified if last_modified.tzinfo else last_modified.replace(tzinfo=datetime.timezone.utc)
            h.set("Last-Modified", formatdate(dt.timestamp(), usegmt=True))
        else:
            h.set("Last-Modified", str(last_modified))
    elif mtime is not None:
        h.set("Last-Modified", formatdate(int(mtime), usegmt=True))
    if max_age is None:
        max_age = _max_age_default(app)
    if callable(max_age):
        max_age = max_age(path)
    if max_age is None:
        h.set("Cache-Control", "no-cache")
    else:
        max_age = int(max_age)
        h.set("Cache-Control", f"public, max-age={max_age}" if max_age > 0 else f"no-cache, max-age={max_age}")
        h.set("Expires", formatdate(int(time.time() + max_age), usegmt=True))
    if isinstance(etag, str):
        h.set("ETag", quote_etag(etag))
    elif etag and path is not None:
        check = zlib.adler32(path.encode()) & 0xFFFFFFFF
        h.set("ETag", quote_etag(f"{mtime}-{body.length}-{check}"))
    if conditional and environ is not None:
        make_conditional(rv, environ, accept_ranges=True)
    return rv


def send_from_directory(directory, path, **kwargs):
    """``send_file`` for ``path`` under ``directory``; 404 for anything outside it or missing."""
    request = _current_request()
    root = kwargs.get("root_path")
    if root is None and request is not None:
        root = getattr(request.app, "root_path", None)
    directory = os.fspath(directory)
    if root and not os.path.isabs(directory):
        directory = os.path.join(root, directory)
    full = safe_join(directory, path)
    if full is None:
        raise NotFound()
    try:
        if not os.path.isfile(full):
            raise NotFound()
    except (OSError, ValueError):
        raise NotFound() from None
    kwargs.pop("root_path", None)
    return send_file(full, root_path="", **kwargs)
