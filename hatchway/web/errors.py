"""Rendering HTTP errors for the client.

Errors are sent as RFC 9457 ``application/problem+json`` unless the client's
Accept header ranks ``text/html`` higher than JSON (browsers do), in which
case a small HTML page is sent. Without an Accept header, or with ``*/*``,
JSON wins: this is an API-first framework.
"""

from html import escape
from urllib.parse import quote

from .jsonutil import dumps
from .response import Response

__all__ = ["accept_quality", "wants_html", "render_error"]

_PROBLEM = "application/problem+json"


def _parse_accept(header):
    out = []
    for item in header.split(","):
        mt, _, params = item.partition(";")
        mt = mt.strip().lower()
        if not mt:
            continue
        q = 1.0
        for p in params.split(";"):
            k, eq, v = p.partition("=")
            if eq and k.strip().lower() == "q":
                try:
                    q = float(v.strip())
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0)
        out.append((mt, q))
    return out


def accept_quality(header, mimetype):
    """q-value the Accept ``header`` gives ``mimetype`` (most specific range wins)."""
    if not header:
        return 1.0
    mimetype = mimetype.lower()
    main = mimetype.split("/", 1)[0]
    best_spec, best_q = -1, 0.0
    for mt, q in _parse_accept(header):
        if mt == mimetype:
            spec = 2
        elif mt == f"{main}/*":
            spec = 1
        elif mt == "*/*":
            spec = 0
        else:
            continue
        if spec > best_spec:
            best_spec, best_q = spec, q
    return best_q


def wants_html(environ):
    header = environ.get("HTTP_ACCEPT")
    if not header:
        return False
    html = accept_quality(header, "text/html")
    if html <= 0:
        return False
    json_q = max(
        accept_quality(header, _PROBLEM),
        accept_quality(header, "application/json"),
    )
    return html > json_q


def render_error(exc, environ, debug_text=None):
    """A Response for HTTPException ``exc`` in the representation the client prefers."""
    code = exc.code
    title = exc.name
    detail = exc.description
    if wants_html(environ):
        body = (
            f"<!doctype html>\n<html lang=en>\n<title>{code} {escape(title)}</title>\n"
            f"<h1>{escape(title)}</h1>\n<p>{escape(detail or '')}</p>\n"
        )
        if debug_text:
            body += f"<pre>{escape(debug_text)}</pre>\n"
        resp = Response(body, code)
    else:
        problem = {"type": "about:blank", "title": title, "status": code}
        if detail:
            problem["detail"] = detail
        field = getattr(exc, "field", None) or getattr(exc, "key", None)
        if isinstance(field, str):
            problem["field"] = field
        path = environ.get("PATH_INFO")
        if path:
            # PATH_INFO holds raw bytes as latin-1; re-encode them as a URI path.
            problem["instance"] = quote(path.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~")
        extra = getattr(exc, "problem_extra", None)
        if extra:
            problem.update(extra)
        if debug_text:
            problem["traceback"] = debug_text
        resp = Response(dumps(problem), code, content_type=_PROBLEM)
    if exc.headers:
        h = resp.headers
        for k, v in exc.headers:
            h.set(k, v)
    return resp
