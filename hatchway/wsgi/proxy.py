"""Forwarded headers from trusted proxies: `Forwarded` (RFC 7239) and `X-Forwarded-*`.

From a peer in `forwarded_allow_ips` the headers are applied to the environ: REMOTE_ADDR,
wsgi.url_scheme, HTTP_HOST, SERVER_NAME, SERVER_PORT and SCRIPT_NAME.  From any other peer they are
removed, so an application can never be fooled by a client that writes them itself.

The client address is found by walking the list from the right (the nearest proxy's entry) and
skipping every hop that is itself trusted: a client cannot forge its way past the last proxy we
trust.
"""
from __future__ import annotations

import ipaddress

FORWARDED_KEYS = frozenset((
    "HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX",
))
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
        if self.networks:
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                return False
            return any(ip in net for net in self.networks)
        return False

    def __bool__(self) -> bool:
        return self.everyone or self.unix or bool(self.exact) or bool(self.networks)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _parse_forwarded(value: str) -> list[dict]:
    """RFC 7239 elements, left to right, each a dict of lower-cased parameter names."""
    elements = []
    for element in _split_outside_quotes(value, ","):
        params = {}
        for pair in _split_outside_quotes(element, ";"):
            name, sep, val = pair.partition("=")
            if not sep:
                continue
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1].replace('\\"', '"')
            params[name.strip().lower()] = val
        elements.append(params)
    return elements


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    parts, buf, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def _node_address(node: str) -> str:
    """A Forwarded `for=` node -> its address: `[v6]:port`, `v4:port`, `unknown`, `_obfuscated`."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    if node.count(":") == 1:
        return node.partition(":")[0]
    return node


def _client(hops: list[str], trusted: TrustedPeers) -> str | None:
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else None


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def apply_forwarded(environ: dict, trusted: TrustedPeers) -> None:
    """Apply (trusted peer) or strip (anyone else) the forwarded headers, in place."""
    if environ.get("REMOTE_ADDR", "") not in trusted:
        for key in FORWARDED_KEYS:
            environ.pop(key, None)
        return
    forwarded = environ.get("HTTP_FORWARDED")
    if forwarded:
        elements = _parse_forwarded(forwarded)
        hops = [_node_address(e["for"]) for e in elements if "for" in e]
        last = elements[-1] if elements else {}
        proto, host, port, prefix = last.get("proto"), last.get("host"), None, None
    else:
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
    if prefix and prefix.startswith("/") and "\\" not in prefix:
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


def _plausible_host(host: str) -> bool:
    return len(host) < 256 and not any(c in host for c in " /\\@?#\t\r\n")


def forwarded_middleware(app, allow_ips: str):
    """Wrap `app`; requests without any forwarded header pass with one set test."""
    trusted = TrustedPeers(allow_ips)
    keys = FORWARDED_KEYS

    def forwarded_app(environ, start_response):
        if not keys.isdisjoint(environ):
            apply_forwarded(environ, trusted)
        return app(environ, start_response)

    forwarded_app.__wrapped__ = app
    return forwarded_app
