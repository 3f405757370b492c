"""Every accept/reject decision of the HTTP layer, and every limit, in one place.

The tokenizer (llhttp, strict mode) already refuses the grammar-level attacks: bare CR/LF line endings,
obs-fold, NUL and control characters, whitespace before the colon, malformed or duplicate
Content-Length, Content-Length together with Transfer-Encoding, chunked not being the final coding.
Chunked bodies are decoded by `chunked.py` (llhttp's strict mode refuses the BWS that RFC 9112 7.1.1
allows in chunk extensions), which refuses malformed sizes and extensions.  This module adds the
semantic rules llhttp leaves to the server and maps every failure to the status code a client should see.
"""
from __future__ import annotations

from typing import Final

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


DEFAULT_LIMITS: Final = Limits()


class Reject(Exception):
    """A request the server refuses.  `status` is what the client gets; the connection then closes."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


# Header names the protocol layer needs to look at, lower-cased.
HOST: Final = b"host"
CONTENT_LENGTH: Final = b"content-length"
TRANSFER_ENCODING: Final = b"transfer-encoding"
EXPECT: Final = b"expect"
UPGRADE: Final = b"upgrade"

# What the parser does with a field, by kind: ints (not an Enum) so the per-header dispatch is one
# dict lookup and an int compare, also under mypyc.  ORDINARY fields are passed on as they come.
ORDINARY: Final = 0
HOST_FIELD: Final = 1               # exactly one on 1.1 (check_host)
LENGTH_FIELD: Final = 2             # framing: one valid Content-Length (check_content_length)
CODING_FIELD: Final = 3             # framing: Transfer-Encoding (check_transfer_encoding)
EXPECT_FIELD: Final = 4             # a list: every member must be 100-continue (check_expect)
UPGRADE_FIELD: Final = 5            # noted: an upgrade request may not carry a body
# Singleton fields (RFC 9110 5.3: a recipient may not join them into a list) get kinds from
# SINGLETON up, one bit each in a per-request mask, so a second occurrence is one AND away.
SINGLETON: Final = 8

# Duplicates of these are refused (400): each carries authority, describes the body, or decides a
# conditional, and the joined value `a, b` (what a gateway makes of two lines) is not a valid
# value of any of them.  Which one a proxy in front used is unknowable, so neither is safe to keep:
# two Content-Types let a WAF check one media type while the app parses another, two
# Authorization lines let a front end authenticate one credential and the app another, and an
# HTTP-date contains a comma, so two If-Modified-Since joined are garbage the app may mis-parse.
SINGLETON_REJECT: Final = (
    b"content-type",         # RFC 9110 8.3
    b"content-location",     # 8.7
    b"authorization",        # 11.6.2
    b"proxy-authorization",  # 11.7.2
    b"if-modified-since",    # 13.1.3 (more than one member: the recipient must ignore it)
    b"if-unmodified-since",  # 13.1.4
    b"if-range",             # 13.1.5
    b"max-forwards",         # 7.6.2
)
# Duplicates of these are dropped and the first kept: they are informational, no decision of the
# server or a proxy hangs on them, and real clients and proxies do send them twice (a proxy
# appending its own User-Agent); a 400 would punish the client for nothing.
SINGLETON_KEEP_FIRST: Final = (
    b"user-agent",           # 10.1.5
    b"referer",              # 10.1.3
    b"from",                 # 10.1.2
    b"date",                 # 6.6.1 (a client should not even send it)
)

FIELD_KINDS: Final = {
    HOST: HOST_FIELD,
    CONTENT_LENGTH: LENGTH_FIELD,
    TRANSFER_ENCODING: CODING_FIELD,
    EXPECT: EXPECT_FIELD,
    UPGRADE: UPGRADE_FIELD,
}
for _i, _name in enumerate(SINGLETON_REJECT + SINGLETON_KEEP_FIRST):
    FIELD_KINDS[_name] = SINGLETON + _i
# Bits (1 << kind) of the singletons whose duplicates are dropped rather than refused.
KEEP_FIRST_MASK: Final = sum(1 << FIELD_KINDS[n] for n in SINGLETON_KEEP_FIRST)
_KIND_NAMES: Final = {kind: name.decode() for name, kind in FIELD_KINDS.items()}


def field_kind(lower_name: bytes) -> int:
    return FIELD_KINDS.get(lower_name, ORDINARY)


def duplicate_field(kind: int) -> Reject:
    return Reject(400, f"Multiple {_KIND_NAMES[kind]} headers")


# The statuses of the limits and of the rules the parser checks as bytes arrive.
def fields_too_large() -> Reject:
    return Reject(431, "Request header fields too large")


def target_too_long() -> Reject:
    return Reject(414, "URI too long")


def body_too_large() -> Reject:
    return Reject(413, "Request body too large")


def closed_mid_body() -> Reject:
    return Reject(400, "Connection closed mid-body")


def multiple_transfer_encoding() -> Reject:
    return Reject(400, "Multiple Transfer-Encoding headers")


def bad_chunked() -> Reject:
    """A chunked body outside the grammar of RFC 9112 7.1: the framing is lost, so is the connection."""
    return Reject(400, "Invalid message framing")


def upgrade_with_body() -> Reject:
    return Reject(400, "Upgrade request with a body")


def check_expect(value: bytes) -> None:
    """RFC 9110 10.1.1: 100-continue is the only expectation defined; any other is a 417.  Expect is
    a list field, so two lines (joined by the parser) must both say 100-continue."""
    for member in value.split(b","):
        if member.strip(b" \t").lower() != b"100-continue":
            raise Reject(417, "Expectation failed")


def check_body_size(n: int, limits: Limits) -> None:
    """An announced or accumulated body size over the limit: 413 at once, before the bytes come."""
    if n > limits.max_body_size:
        raise body_too_large()


_TOKEN: Final = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Characters a Host value may never contain: they would let a client steer URL building.
_host_forbidden: Final = re.compile(rb'[ \t/\\@?#,"<>{}|^`]').search


def is_token(value: bytes) -> bool:
    return bool(value) and all(c in _TOKEN for c in value)


def check_version(version: str, has_headers: bool = True) -> None:
    if version == "0.9" and not has_headers:
        # llhttp reports a request line with no version at all ("GET /") as 0.9: malformed.
        raise Reject(400, "Missing HTTP version")
    if version != "1.1" and version != "1.0":
        raise Reject(505, "HTTP version not supported")


def check_host(hosts: list[bytes], version: str) -> None:
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


_authority_end: Final = re.compile(rb"[/?#]").search
_authority_bad: Final = re.compile(rb'[\x00-\x20@\\"<>{}|^`\x7f-\xff]').search


def split_absolute(target: bytes) -> tuple[bytes, bytes]:
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
    if b"#" in target:
        # RFC 9112 3.2 has no fragment in any target form.  Refused rather than stripped: a client
        # that sends one is broken, and a proxy in front may have routed on `/a#x` as a path, so
        # silently giving the app `/a` would make the two disagree on what was asked.
        raise Reject(400, "Fragment in request target")
    c = target[:1]
    if c == b"/":
        return
    if target == b"*":
        if method != "OPTIONS":
            raise Reject(400, "Asterisk-form is only for OPTIONS")
        return
    split_absolute(target)


_non_token: Final = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]").search
# A method llhttp does not know is judged on at most this many bytes of its request line.
METHOD_SNIFF: Final = 64


def method_verdict(line: bytes, final: bool) -> Reject | None:
    """A request line llhttp refused in its method: 501 for a well-formed method we do not
    implement (a token, then SP), 400 for anything else.  `line` is the message from its first
    byte on, as far as it has arrived (`final`: no more will); None means the bytes so far cannot
    tell, so the answer waits for more and never depends on where the stream was split."""
    m = _non_token(line)
    if m is None:
        return None if len(line) < METHOD_SNIFF and not final else Reject(400, "Invalid method")
    if m.start() > 0 and line[m.start()] == 32:
        return Reject(501, "Method not implemented")
    return Reject(400, "Invalid method")


def reject_for_parser_error(exc: Exception) -> Reject:
    """Map a tokenizer error (other than one in the method, see method_verdict) to the client's status."""
    message = str(exc)
    if "HTTP version" in message:
        return Reject(505, "HTTP version not supported")
    if type(exc).__name__ == "HttpParserInvalidURLError":
        return Reject(400, "Invalid request target")
    if "Transfer-Encoding" in message or "Content-Length" in message or "chunk" in message:
        return Reject(400, "Invalid message framing")
    return Reject(400, "Malformed request")


def drop_header(name: bytes) -> bool:
    """Header names with `_` are dropped: CGI mangling turns `X_Forwarded_For` and
    `X-Forwarded-For` into the same environ key, which lets a client spoof a proxy header."""
    return b"_" in name
