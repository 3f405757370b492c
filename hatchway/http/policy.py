"""Every accept/reject decision of the HTTP layer, and every limit, in one place.

The tokenizer (llhttp, strict mode) already refuses the grammar-level attacks: bare CR/LF line endings,
obs-fold, NUL and control characters, whitespace before the colon, malformed or duplicate
Content-Length, Content-Length together with Transfer-Encoding, chunked not being the final coding,
malformed chunk sizes and extensions.  This module adds the semantic rules llhttp leaves to the
server and maps every failure to the status code a client should see.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Request-size limits.  Defaults are documented in docs/architecture.md."""

    max_target_size: int = 8192          # request-target bytes        -> 414
    max_header_count: int = 100          # header fields (and trailers) -> 431
    max_header_size: int = 65536         # total bytes of the head      -> 431
    max_field_size: int = 0              # bytes of one field, name + value (0: only the head limit) -> 431
    max_body_size: int = 1 << 30         # request body bytes           -> 413
    max_pipelined: int = 64              # complete requests queued ahead of the one in flight


class Reject(Exception):
    """A request the server refuses.  `status` is what the client gets; the connection then closes."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


# Header names the protocol layer needs to look at, lower-cased.
HOST = b"host"
CONTENT_LENGTH = b"content-length"
TRANSFER_ENCODING = b"transfer-encoding"
CONNECTION = b"connection"
EXPECT = b"expect"

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Characters a Host value may never contain: they would let a client steer URL building.
_host_forbidden = re.compile(rb'[ \t/\\@?#,"<>{}|^`]').search


def is_token(value: bytes) -> bool:
    return bool(value) and all(c in _TOKEN for c in value)


def check_version(version: str, has_headers: bool = True) -> None:
    if version == "0.9" and not has_headers:
        # llhttp reports a request line with no version at all ("GET /") as 0.9: malformed.
        raise Reject(400, "Missing HTTP version")
    if version != "1.1" and version != "1.0":
        raise Reject(505, "HTTP version not supported")


def check_host(hosts: list, version: str) -> None:
    """RFC 9112 3.2: a 1.1 request carries exactly one Host; a 1.0 request at most one."""
    n = len(hosts)
    if n == 1:
        if _host_forbidden(hosts[0]) is not None:
            raise Reject(400, "Invalid Host header")
        return
    if n == 0 and version == "1.0":
        return
    raise Reject(400, "Missing Host header" if n == 0 else "Multiple Host headers")


def check_transfer_encoding(value: bytes, version: str) -> None:
    """The tokenizer guarantees chunked is final; anything more than a lone `chunked` is a coding
    we do not decode (501), and chunked framing on HTTP/1.0 is ambiguous (400, RFC 9112 6.1)."""
    if version == "1.0":
        raise Reject(400, "Transfer-Encoding on HTTP/1.0")
    if value.strip().lower() != b"chunked":
        codings = [c.strip() for c in value.split(b",")]
        if all(is_token(c) for c in codings) and codings[-1].lower() == b"chunked" and len(codings) > 1:
            if any(c.lower() == b"chunked" for c in codings[:-1]):
                raise Reject(400, "chunked applied more than once")
            raise Reject(501, "Unsupported transfer coding")
        raise Reject(400, "Invalid Transfer-Encoding")


def check_content_length(value: bytes) -> int:
    """1*DIGIT only, surrounding OWS tolerated (the tokenizer checked the rest)."""
    v = value.strip(b" \t")
    if not v.isdigit() or len(v) > 19:
        raise Reject(400, "Invalid Content-Length")
    return int(v)


_authority_end = re.compile(rb"[/?#]").search
_authority_bad = re.compile(rb'[\x00-\x20@\\"<>{}|^`\x7f-\xff]').search


def split_absolute(target: bytes):
    """`http://host[:port]/path?q` -> (authority, rest), rest starting with "/" or "?" or empty.
    Raises Reject(400) for an empty or unusable authority (RFC 9110 4.2: no userinfo)."""
    scheme, sep, rest = target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        raise Reject(400, "Invalid request target")
    m = _authority_end(rest)
    authority = rest[:m.start()] if m else rest
    if not authority or _authority_bad(authority) or authority.startswith(b":"):
        raise Reject(400, "Invalid authority in request target")
    if authority.startswith(b"["):  # IP-literal
        end = authority.find(b"]")
        port_part = authority[end + 1:] if end > 1 else b"x"
    else:
        port_part = authority[authority.find(b":"):] if b":" in authority else b""
    # port = *DIGIT after one ":" (RFC 3986 3.2.3); an empty port is allowed.
    if port_part and (port_part[:1] != b":" or not (port_part[1:].isdigit() or port_part == b":")):
        raise Reject(400, "Invalid port in request target")
    return authority, rest[len(authority):]


def check_target(method: str, target: bytes) -> None:
    """The four request-target forms of RFC 9112 3.2 and which methods may use them."""
    if method == "CONNECT":
        raise Reject(501, "CONNECT is not supported")
    c = target[:1]
    if c == b"/":
        return
    if target == b"*":
        if method != "OPTIONS":
            raise Reject(400, "Asterisk-form is only for OPTIONS")
        return
    split_absolute(target)


def reject_for_parser_error(exc: Exception, head_start: bytes | None) -> Reject:
    """Map a tokenizer error to the client's status.  `head_start` is the start of the offending
    request when it is known, to tell an unknown method (501) from garbage (400)."""
    name = type(exc).__name__
    message = str(exc)
    if name == "HttpParserInvalidMethodError":
        if head_start is not None:
            method = head_start.lstrip(b"\r\n").split(b" ", 1)[0]
            if is_token(method) and b" " in head_start:
                return Reject(501, "Method not implemented")
        return Reject(400, "Invalid method")
    if "HTTP version" in message:
        return Reject(505, "HTTP version not supported")
    if name == "HttpParserInvalidURLError":
        return Reject(400, "Invalid request target")
    if "Transfer-Encoding" in message or "Content-Length" in message or "chunk" in message:
        return Reject(400, "Invalid message framing")
    return Reject(400, "Malformed request")


def drop_header(name: bytes) -> bool:
    """Header names with `_` are dropped: CGI mangling turns `X_Forwarded_For` and
    `X-Forwarded-For` into the same environ key, which lets a client spoof a proxy header."""
    return b"_" in name
