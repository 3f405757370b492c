"""Conditional requests and byte ranges (RFC 9110 sections 13 and 14).

``make_conditional(response, request)`` looks at the request's validators
and Range header and turns a 200 into 304, 412, 206 (one range, or
``multipart/byteranges`` for several) or 416. It works for any Response
whose body is bytes or a :class:`FileBody`; a streamed body of unknown
length is left alone (its ranges cannot be cut without reading it).

Order of evaluation follows RFC 9110 13.2.2: If-Match, If-Unmodified-Since,
If-None-Match, If-Modified-Since, then If-Range and Range.
"""

import os
import re
from email.utils import parsedate_to_datetime

from .filebody import FileBody

__all__ = ["make_conditional", "parse_range", "parse_etags", "quote_etag", "unquote_etag"]

# Header fields a 304 keeps (RFC 9110 15.4.5); representation metadata goes.
# Content-Disposition and Accept-Ranges stay too, as Werkzeug keeps them.
_KEEP_ON_304 = frozenset([
    "etag", "cache-control", "content-location", "date", "expires", "vary", "set-cookie",
    "content-disposition", "accept-ranges",
])
# A client asking for this many distinct ranges is probing, not downloading.
MAX_RANGES = 64
_RANGE_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*\Z")


def quote_etag(etag, weak=False):
    if '"' in etag:
        raise ValueError("an entity tag may not contain a double quote")
    return f'{"W/" if weak else ""}"{etag}"'


def unquote_etag(value):
    """``'W/"abc"'`` -> ``("abc", True)``; ``(None, None)`` for nothing."""
    if not value:
        return None, None
    value = value.strip()
    weak = value.startswith(("W/", "w/"))
    if weak:
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value, weak


def parse_etags(value):
    """-> (set of opaque tags, star) from an If-Match / If-None-Match value."""
    if not value:
        return set(), False
    value = value.strip()
    if value == "*":
        return set(), True
    tags = set()
    # Split on commas: tags we generate (and nearly all in the wild) hold none.
    for item in value.split(","):
        item = item.strip()
        if item.startswith(("W/", "w/")):
            item = item[2:]
        if len(item) >= 2 and item[0] == item[-1] == '"':
            item = item[1:-1]
        if item:
            tags.add(item)
    return tags, False


def _http_date(value):
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        return None


def parse_range(value, length):
    """Parse ``bytes=...`` against a representation of ``length`` bytes.

    Returns None to ignore the header (not bytes, malformed, too many
    ranges), ``[]`` if no range is satisfiable (416), else the list of
    ``(start, stop)`` half-open ranges in the order asked, with overlapping
    and adjacent ones merged (RFC 9110 14.2 allows it, and it bounds the
    work a hostile list of ranges can cause).
    """
    unit, eq, specs = value.partition("=")
    if not eq or unit.strip().lower() != "bytes":
        return None
    parts = specs.split(",")
    if len(parts) > MAX_RANGES * 4:
        return None
    ranges = []
    for part in parts:
        if not part.strip():
            continue  # RFC 9110 allows empty list elements
        m = _RANGE_SPEC.match(part)
        if m is None:
            return None
        first, last = m.groups()
        if first:
            start = int(first)
            if last:
                stop = int(last) + 1
                if stop <= start:
                    return None  # last < first: the header is invalid, ignore it
            else:
                stop = length
            if start >= length:
                continue  # unsatisfiable; others may still be fine
            ranges.append((start, min(stop, length)))
        elif last:
            suffix = int(last)
            if suffix == 0:
                continue
            ranges.append((max(0, length - suffix), length))
        else:
            return None
    if not ranges:
        return [] if any(p.strip() for p in parts) else None
    ordered = sorted(ranges)
    merged = [list(ordered[0])]
    for start, stop in ordered[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    if len(merged) > MAX_RANGES:
        return None
    if len(merged) == len(ranges):
        return ranges  # nothing overlapped: keep the client's order
    return [tuple(r) for r in merged]


def _body_length(response):
    body = response.body
    if type(body) is bytes:
        return len(body)
    if type(body) is FileBody:
        return body.length  # None for a pipe: no ranges
    return None


def _etag_of(response):
    h = response._headers
    return h.get("ETag") if h is not None else None


def _last_modified_of(response):
    h = response._headers
    return _http_date(h.get("Last-Modified")) if h is not None else None


def _not_modified(response):
    h = response.headers
    has_etag = "ETag" in h
    kept = [
        (k, v) for k, v in h._list
        if k.lower() in _KEEP_ON_304 or (k.lower() == "last-modified" and not has_etag)
    ]
    h._list[:] = kept
    _drop_body(response)
    response.status = 304


def _drop_body(response):
    body = response.body
    if type(body) is not bytes:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    response.body = b""


def _precondition_failed(response):
    _drop_body(response)
    h = response.headers
    h._list[:] = [(k, v) for k, v in h._list if k.lower() in ("etag", "last-modified", "cache-control")]
    h.set("Content-Type", "text/plain; charset=utf-8")
    response.body = b"Precondition Failed\n"
    response.status = 412


def make_conditional(response, request_or_environ, accept_ranges=True, complete_length=None):
    """Answer the request's conditional and Range headers on ``response`` (in place).

    Returns the response. Only a 200 to GET or HEAD is changed, except that
    If-Match / If-Unmodified-Since failures give 412 for any method.
    """
    environ = getattr(request_or_environ, "environ", request_or_environ)
    code = response.status_code
    if not 200 <= code < 300:
        return response
    method = environ.get("REQUEST_METHOD", "GET")
    etag_header = _etag_of(response)
    etag, weak = unquote_etag(etag_header)
    # Parsing Last-Modified costs more than the rest; only date validators need it.
    last_modified = None
    if ("HTTP_IF_MODIFIED_SINCE" in environ or "HTTP_IF_UNMODIFIED_SINCE" in environ
            or "HTTP_IF_RANGE" in environ):
        last_modified = _last_modified_of(response)

    if_match = environ.get("HTTP_IF_MATCH")
    if if_match is not None:
        tags, star = parse_etags(if_match)
        # Strong comparison: a weak tag never matches If-Match.
        if not (star and etag is not None) and not (etag is not None and not weak and etag in tags):
            _precondition_failed(response)
            return response
    else:
        ius = _http_date(environ.get("HTTP_IF_UNMODIFIED_SINCE"))
        if ius is not None and last_modified is not None and int(last_modified) > int(ius):
            _precondition_failed(response)
            return response

    if method not in ("GET", "HEAD"):
        return response
    if code != 200:
        return response
    length = None
    if accept_ranges:
        # complete_length is Werkzeug's argument; here the body itself knows its length.
        length = _body_length(response)
        if length is not None:
            response.headers.set("Accept-Ranges", "bytes")

    inm = environ.get("HTTP_IF_NONE_MATCH")
    if inm is not None:
        tags, star = parse_etags(inm)
        # Weak comparison for If-None-Match.
        if (star and etag is not None) or (etag is not None and etag in tags):
            _not_modified(response)
            return response
    else:
        ims = _http_date(environ.get("HTTP_IF_MODIFIED_SINCE"))
        if ims is not None and last_modified is not None and int(last_modified) <= int(ims):
            _not_modified(response)
            return response

    if not length:
        return response  # unknown, or empty: nothing to cut (Werkzeug also answers 200)
    h = response.headers
    range_header = environ.get("HTTP_RANGE")
    if not range_header:
        if "Content-Length" not in h:
            h.set("Content-Length", str(length))
        return response
    if_range = environ.get("HTTP_IF_RANGE")
    if if_range is not None and not _if_range_holds(if_range.strip(), etag, weak, last_modified):
        return response  # the client's copy is stale: send it the whole thing
    ranges = parse_range(range_header, length)
    if ranges is None:
        return response
    if not ranges:
        _drop_body(response)
        h.set("Content-Range", f"bytes */{length}")
        h.set("Content-Type", "text/plain; charset=utf-8")
        response.body = b"Range Not Satisfiable\n"
        h.remove("Content-Length")
        response.status = 416
        return response
    if len(ranges) == 1:
        start, stop = ranges[0]
        _cut(response, start, stop)
        h.set("Content-Range", f"bytes {start}-{stop - 1}/{length}")
        h.set("Content-Length", str(stop - start))
    else:
        _multipart(response, ranges, length)
    response.status = 206
    return response


def _if_range_holds(value, etag, weak, last_modified):
    if value.startswith(('"', "W/")):
        tag, tag_weak = unquote_etag(value)
        # If-Range needs a strong match (RFC 9110 13.1.5).
        return etag is not None and not weak and not tag_weak and tag == etag
    date = _http_date(value)
    # A date validator must match exactly, and only a strong one counts.
    return date is not None and last_modified is not None and int(date) == int(last_modified)


def _cut(response, start, stop):
    body = response.body
    if type(body) is bytes:
        response.body = body[start:stop]
    else:
        response.body = body.region(start, stop)


def _multipart(response, ranges, length):
    h = response.headers
    boundary = os.urandom(12).hex()
    content_type = h.get("Content-Type") or "application/octet-stream"
    heads = [
        (f"--{boundary}\r\nContent-Type: {content_type}\r\n"
         f"Content-Range: bytes {start}-{stop - 1}/{length}\r\n\r\n").encode("latin-1")
        for start, stop in ranges
    ]
    tail = f"--{boundary}--\r\n".encode("latin-1")
    total = sum(len(hd) for hd in heads) + sum(stop - start + 2 for start, stop in ranges) + len(tail)
    body = response.body
    if type(body) is bytes:
        chunks: list = []
        for hd, (start, stop) in zip(heads, ranges, strict=True):
            chunks += (hd, body[start:stop], b"\r\n")
        chunks.append(tail)
        response.body = b"".join(chunks)
    else:
        response.body = _MultipartFile(body, heads, ranges, tail)
    h.set("Content-Type", f"multipart/byteranges; boundary={boundary}")
    h.set("Content-Length", str(total))
    h.remove("Content-Range")


class _MultipartFile:
    """Streams the parts of a multipart/byteranges answer from one open file."""

    __slots__ = ("_body", "_heads", "_ranges", "_tail")

    def __init__(self, body, heads, ranges, tail):
        self._body = body
        self._heads = heads
        self._ranges = ranges
        self._tail = tail

    def __iter__(self):
        read_region = self._body.read_region
        for head, (start, stop) in zip(self._heads, self._ranges, strict=True):
            yield head
            pos = start
            while pos < stop:
                end = min(stop, pos + 256 * 1024)
                data = read_region(pos, end)
                if not data:
                    raise OSError("file shrank while it was being sent")
                yield data
                pos += len(data)
            yield b"\r\n"
        yield self._tail

    def close(self):
        self._body.close()
