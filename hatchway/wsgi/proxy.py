"""Forwarded headers from trusted proxies: `Forwarded` (RFC 7239) and `X-Forwarded-*`.

From a peer in `forwarded_allow_ips` the headers are applied to the environ: REMOTE_ADDR,
wsgi.url_scheme, HTTP_HOST, SERVER_NAME, SERVER_PORT and SCRIPT_NAME.  From any other peer they are
removed, so an application can never be fooled by a client that writes them itself.

The client address is found by walking the list from the right (the nearest proxy's entry) and
skipping every hop that is itself trusted: a client cannot forge its way past the last proxy we
trust.

Only one header family is believed: the one the trusted proxy sets (`forwarded_headers`,
"x-forwarded" by default, as nginx, HAProxy and cloud balancers send; or "forwarded").  The other
family is removed even from trusted peers, because a proxy passes through what the client wrote in
the family it does not manage.  A `Forwarded` header that does not parse strictly (RFC 7239, with
quoted-pairs) is ignored as a whole: the peer's own address stands.
"""
from __future__ import annotations

import ipaddress
import re

X_FORWARDED_KEYS = frozenset((
    "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX",
))
FORWARDED_KEYS = X_FORWARDED_KEYS | {"HTTP_FORWARDED"}
FAMILIES = ("x-forwarded", "forwarded")
_SCHEMES = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


class TrustedPeers:
    """`*`, or a comma-separated list of addresses and networks, plus `unix` for Unix-socket peers."""

    def __init__(self, spec: str):
        self.everyone = False
        self.unix = False
        self.exact: set[str] = set()
        self.networks = []
        for item in (part.strip() for part in (spec or "").split(",")):
            if not item:
                continue
            if item == "*":
                self.everyone = True
            elif item == "unix":
                self.unix = True
            elif "/" in item:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            else:
                self.exact.add(str(ipaddress.ip_address(item)))

    def __contains__(self, addr: str) -> bool:
        if self.everyone:
            return True
        if not addr:
            return self.unix  # a Unix-socket peer has no address
        if addr in self.exact:
            return True
        try:
            ip = ipaddress.ip_address(addr)  # one spelling per address: 2001:DB8::1 == 2001:db8:0:0::1
        except ValueError:
            return False
        return str(ip) in self.exact or any(ip in net for net in self.networks)

    def __bool__(self) -> bool:
        return self.everyone or self.unix or bool(self.exact) or bool(self.networks)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x09\x20-\x7e\x80-\xff])*"'
# Unquoted values may also hold ":" "[" "]": proxies often send `host=h:8443` bare, and none of these
# can act as a separator.
_BARE = r"[!#$%&'*+.^_`|~0-9A-Za-z:\[\]-]+"
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_BARE}|{_QUOTED})[ \t]*")
_UNQUOTE = re.compile(r"\\(.)")


class MalformedForwarded(ValueError):
    pass


def _parse_forwarded(value: str) -> list[dict]:
    """RFC 7239 elements, left to right, each a dict of lower-cased parameter names.  Strict: a
    quoted-string keeps its quoted-pairs (so an escaped quote cannot hide a separator), and
    anything that is not `pair *( ";" pair ) *( "," ... )` raises MalformedForwarded."""
    elements = []
    params: dict = {}
    pos = 0
    end = len(value)
    while True:
        m = _PAIR.match(value, pos)
        if m is None:
            raise MalformedForwarded(value)
        name, val = m.group(1).lower(), m.group(2)
        if val.startswith('"'):
            val = _UNQUOTE.sub(r"\1", val[1:-1])
        if name in params:
            raise MalformedForwarded(value)  # RFC 7239 4: a parameter at most once per element
        params[name] = val
        pos = m.end()
        if pos == end:
            elements.append(params)
            return elements
        sep = value[pos]
        pos += 1
        if sep == ",":
            elements.append(params)
            params = {}
        elif sep != ";":
            raise MalformedForwarded(value)


def _node_address(node: str) -> str:
    """A Forwarded `for=` node -> its address: `[v6]:port`, `v4:port`, `unknown`, `_obfuscated`."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def _client(hops: list[str], trusted: TrustedPeers) -> str | None:
    for hop in reversed(hops):
        if hop not in trusted:  # TrustedPeers normalizes each spelling of an address
            return hop
    return hops[0] if hops else None


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def apply_forwarded(environ: dict, trusted: TrustedPeers, family: str = "x-forwarded") -> None:
    """Apply (trusted peer, the proxy's header family) or strip (everything else), in place."""
    if environ.get("REMOTE_ADDR", "") not in trusted:
        for key in FORWARDED_KEYS:
            environ.pop(key, None)
        return
    if family == "forwarded":
        for key in X_FORWARDED_KEYS:
            environ.pop(key, None)
        forwarded = environ.get("HTTP_FORWARDED")
        if not forwarded:
            return
        try:
            elements = _parse_forwarded(forwarded)
        except MalformedForwarded:
            return  # believe nothing of it; the peer's own address stands
        hops = [_node_address(e["for"]) for e in elements if "for" in e]
        last = elements[-1]
        proto, host, port, prefix = last.get("proto"), last.get("host"), None, None
    else:
        environ.pop("HTTP_FORWARDED", None)
        xff = environ.get("HTTP_X_FORWARDED_FOR")
        hops = _split(xff) if xff else []
        proto = _last(environ.get("HTTP_X_FORWARDED_PROTO"))
        host = _last(environ.get("HTTP_X_FORWARDED_HOST"))
        port = _last(environ.get("HTTP_X_FORWARDED_PORT"))
        prefix = _last(environ.get("HTTP_X_FORWARDED_PREFIX"))
    client = _client(hops, trusted)
    if client:
        ip = _valid_ip(client)
        if ip is not None:
            environ["REMOTE_ADDR"] = ip
            environ["REMOTE_PORT"] = ""  # the port we know is the proxy's, not the client's
    if proto:
        proto = proto.lower()
        if proto in _SCHEMES:
            environ["wsgi.url_scheme"] = proto
            if not port and not (host and _host_port(host)):
                environ["SERVER_PORT"] = _SCHEMES[proto]
    if host and _plausible_host(host):
        environ["HTTP_HOST"] = host
        name = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
        environ["SERVER_NAME"] = name
        hp = _host_port(host)
        if hp:
            environ["SERVER_PORT"] = hp
    if port and port.isdigit() and 0 < int(port) < 65536:
        environ["SERVER_PORT"] = port
    if prefix and _PREFIX_OK(prefix) and not prefix.startswith("//"):
        # "//evil" would make every URL the app builds protocol-relative: an open redirect.
        environ["SCRIPT_NAME"] = prefix.rstrip("/")


def _last(value):
    if not value:
        return None
    parts = _split(value)
    return parts[-1] if parts else None


def _host_port(host: str) -> str | None:
    tail = host.rpartition("]")[2] if host.startswith("[") else host
    if ":" in tail:
        port = tail.rpartition(":")[2]
        if port.isdigit():
            return port
    return None


_PREFIX_OK = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*").fullmatch


def _plausible_host(host: str) -> bool:
    return len(host) < 256 and not any(c in host for c in " /\\@?#\t\r\n")


def forwarded_middleware(app, allow_ips: str, family: str = "x-forwarded"):
    """Wrap `app`; requests without any forwarded header pass with one set test."""
    if family not in FAMILIES:
        raise ValueError(f"forwarded_headers must be one of {', '.join(FAMILIES)}, not {family!r}")
    trusted = TrustedPeers(allow_ips)
    keys = FORWARDED_KEYS

    def forwarded_app(environ, start_response):
        if not keys.isdisjoint(environ):
            apply_forwarded(environ, trusted, family)
        return app(environ, start_response)

    forwarded_app.__wrapped__ = app  # type: ignore[attr-defined]  # inspect.unwrap() and tests find the app beneath
    return forwarded_app
