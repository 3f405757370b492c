"""The PROXY protocol (HAProxy), versions 1 and 2, as a pre-step on a listener.

A load balancer that speaks it sends one header before the client's bytes, naming the real client.
The header is read into a buffer as it arrives; the bytes that came after it (the start of the
client's own stream) are handed to the real connection object, which parses them first.
A listener that expects the header requires it: a connection without a valid one is closed.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .addresses import format_peer

if TYPE_CHECKING:
    from .listeners import Listener

log = logging.getLogger("hatchway.error")

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 107  # the spec's bound for a whole v1 line, CRLF included

# (header length, (host, port) of the real client or None when the proxy speaks for itself)
Parsed = tuple[int, tuple[str, int] | None]


class ProxyProtocolError(Exception):
    pass


class Incomplete(Exception):
    """More bytes are needed to decide."""


def parse(data: bytes) -> Parsed:
    """Parse a header at the start of `data`.  Returns (length, source) where source is
    (host, port), or None when the proxy speaks for itself (v2 LOCAL, v1 UNKNOWN)."""
    if data.startswith(V2_SIGNATURE):
        if len(data) < 16:
            raise Incomplete
        return _parse_v2(data)
    if data.startswith(b"PROXY "):
        return _parse_v1(data)
    if V2_SIGNATURE.startswith(data) or b"PROXY ".startswith(data):
        raise Incomplete
    raise ProxyProtocolError("no PROXY protocol header")


def _parse_v1(data: bytes) -> Parsed:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyProtocolError("PROXY v1 line too long")
        raise Incomplete
    parts = data[:end].decode("ascii", "replace").split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        return end + 2, None
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"bad PROXY v1 line {data[:end]!r}")
    _, proto, src, _dst, sport, _dport = parts
    try:
        ip = ipaddress.ip_address(src)
        port = int(sport)
    except ValueError:
        raise ProxyProtocolError(f"bad PROXY v1 address in {data[:end]!r}") from None
    if (proto == "TCP4") != (ip.version == 4) or not 0 <= port <= 65535 or not sport.isdigit():
        raise ProxyProtocolError(f"bad PROXY v1 address in {data[:end]!r}")
    return end + 2, (str(ip), port)


def _parse_v2(data: bytes) -> Parsed:
    ver_cmd, fam, length = struct.unpack("!BBH", data[12:16])
    if ver_cmd >> 4 != 2:
        raise ProxyProtocolError("unsupported PROXY protocol version")
    total = 16 + length
    if len(data) < total:
        raise Incomplete
    cmd = ver_cmd & 0x0F
    if cmd == 0:  # LOCAL: a health check from the proxy itself
        return total, None
    if cmd != 1:
        raise ProxyProtocolError("unknown PROXY v2 command")
    body = data[16:total]
    family = fam >> 4
    if family == 1 and length >= 12:
        src = socket.inet_ntop(socket.AF_INET, body[0:4])
        (port,) = struct.unpack("!H", body[8:10])
        return total, (src, port)
    if family == 2 and length >= 36:
        src = socket.inet_ntop(socket.AF_INET6, body[0:16])
        (port,) = struct.unpack("!H", body[32:34])
        return total, (src, port)
    return total, None  # AF_UNIX or unspecified: keep the socket's own peer


class ProxyHandshake:
    """Lives on the worker loop until the header is read, then hands the socket to `factory`.

    What arrives is read (not peeked: a level-triggered fd with unread bytes would wake the loop
    again and again while a partial header waits) into `buf`; the bytes after the header are the
    start of the client's stream and are handed to the new connection with `conn.feed(data)`."""

    __slots__ = ("worker", "sock", "fd", "addr", "listener", "factory", "deadline", "idle", "stopping", "buf")

    # worker: the loop's Worker (its replace/forget/conns/now); Any so this pre-step does not depend on it.
    def __init__(self, worker: Any, sock: socket.socket, addr: Any, listener: Listener,
                 factory: Callable[[Any, socket.socket, Any, Listener], Any], timeout: float) -> None:
        self.worker = worker
        self.sock = sock
        self.fd = sock.fileno()
        self.addr = addr
        self.listener = listener
        self.factory = factory
        self.deadline = worker.now + timeout
        self.idle = False
        self.stopping = False
        self.buf = b""

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.buf += data
        try:
            length, source = parse(self.buf)
        except Incomplete:
            return
        except ProxyProtocolError as exc:
            log.info("closing connection from %s: %s", self.addr, exc)
            self.close()
            return
        rest = self.buf[length:]
        self.buf = b""
        addr = source if source is not None else self.addr
        try:
            conn = self.factory(self.worker, self.sock, addr, self.listener)
        except OSError:
            self.close()
            return
        self.worker.replace(self, conn)
        if rest:
            conn.feed(rest)  # the client's first bytes came with the header
        if self.stopping and self.worker.conns.get(conn.fd) is conn:
            conn.stop_gracefully()

    def on_writable(self) -> None:
        pass

    def on_timeout(self) -> None:
        log.info("closing connection from %s: no PROXY protocol header in time", format_peer(self.addr))
        self.close()

    def stop_gracefully(self) -> None:
        if not self.buf:
            self.close()  # not one byte yet (a balancer's TCP check, say): nothing to finish
            return
        self.stopping = True

    def close(self) -> None:
        self.worker.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass
