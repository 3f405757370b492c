"""Listening sockets: TCP over IPv4 and IPv6, Unix sockets, inherited file descriptors, TLS."""
from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .acceptor import plain_accept

if TYPE_CHECKING:
    import ssl


class BindError(Exception):
    """A listener could not be created; the message is one line, fit for the user."""


class Listener:
    """A bound, listening, non-blocking socket and what the server needs to know about it."""

    __slots__ = ("sock", "fd", "kind", "address", "ssl_context", "unlink_path", "name", "accept")

    def __init__(self, sock: socket.socket, kind: str, ssl_context: Any = None, unlink_path: str | None = None) -> None:
        sock.setblocking(False)
        if kind == "tcp":
            # Accepted sockets inherit TCP_NODELAY from the listener on Linux: one setsockopt here
            # instead of one per connection.  Our writes are already coalesced per response.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.sock = sock
        self.fd = sock.fileno()
        self.kind = kind  # "tcp" or "unix"
        self.address: Any = sock.getsockname()  # (host, port[, flow, scope]) or a Unix path
        self.ssl_context = ssl_context
        self.unlink_path = unlink_path
        self.name = describe(self.address, kind)
        self.accept = plain_accept(sock)  # the loop's accept: (socket, address), or raises as accept() does

    @property
    def server_name_port(self) -> tuple[str, str]:
        if self.kind == "unix":
            return ("localhost", "")
        host, port = self.address[:2]
        return (host, str(port))

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.unlink_path:
                try:
                    os.unlink(self.unlink_path)
                except FileNotFoundError:
                    pass


def describe(address: Any, kind: str = "tcp") -> str:
    """A listening address as `--bind` spells it: `unix:PATH`, `HOST:PORT`, or `[V6HOST]:PORT`."""
    if kind == "unix":
        return f"unix:{address}"
    host, port = address[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind_spec(host: str, port: int) -> str:
    """run_simple's (host, port) as a `--bind` spec parse_bind reads back; host `unix://PATH` is a Unix socket."""
    if host.startswith("unix://"):
        return f"unix:{host[7:]}"
    return describe((host, port))


def parse_bind(spec: str) -> tuple[str, Any]:
    """`HOST:PORT`, `[::]:PORT`, `:PORT`, `unix:PATH` or `fd://N` -> (kind, value): ("tcp", (host, port)),
    ("unix", path) or ("fd", n)."""
    if spec.startswith("unix:"):
        path = spec[5:]
        if not path:
            raise BindError(f"bad bind address {spec!r}: empty unix socket path")
        return ("unix", path)
    if spec.startswith("fd://"):
        try:
            return ("fd", int(spec[5:]))
        except ValueError:
            raise BindError(f"bad bind address {spec!r}: fd://N needs a number") from None
    if spec.startswith("["):
        host, sep, port = spec[1:].partition("]:")
        if not sep:
            raise BindError(f"bad bind address {spec!r}: expected [HOST]:PORT")
    else:
        host, sep, port = spec.rpartition(":")
        if not sep:
            host, port = spec, "8000"
    try:
        port_n = int(port)
    except ValueError:
        raise BindError(f"bad bind address {spec!r}: port must be a number") from None
    if not 0 <= port_n <= 65535:
        raise BindError(f"bad bind address {spec!r}: port out of range")
    return ("tcp", (host or "0.0.0.0", port_n))


def _tune_tcp(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def bind_tcp(host: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # An ASCII name as bytes: for a str CPython loads the idna codec (and unicodedata), ~0.4 MiB per worker.
        name = host.encode() if host.isascii() else host
        infos = socket.getaddrinfo(name, port, family if ":" in host else socket.AF_UNSPEC,
                                   socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"cannot resolve {host!r}: {exc.strerror}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _tune_tcp(sock)
        if reuse_port and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            # "[::]" serves IPv6 only; bind 0.0.0.0 too for IPv4, explicitly, as nginx does.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = describe(addr)
        raise BindError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    return sock


def bind_unix(path: str, backlog: int) -> socket.socket:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise BindError(f"cannot listen on unix:{path}: a file that is not a socket is in the way")
        # A stale socket from a previous run is removed only if nothing answers on it.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
        else:
            probe.close()
            raise BindError(f"cannot listen on unix:{path}: another server is listening there")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on unix:{path}: {exc.strerror or exc}") from None
    return sock


def from_fd(fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise BindError(f"cannot use fd://{fd}: {exc.strerror or exc}") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise BindError(f"cannot use fd://{fd}: not a stream socket")
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        listening = 1
    if not listening:
        sock.detach()
        raise BindError(f"cannot use fd://{fd}: socket is not listening")
    return sock


def make_ssl_context(certfile: str, keyfile: str | None = None, password: str | bytes | None = None) -> ssl.SSLContext:
    import ssl  # lazily: a server without TLS never pays its ~5 MiB

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(certfile, keyfile, password)
    except (OSError, ssl.SSLError) as exc:
        raise BindError(f"cannot load TLS certificate {certfile!r}: {exc}") from None
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def open_listeners(binds: Iterable[str | socket.socket | tuple[str, Any]], backlog: int = 2048,
                   ssl_context: ssl.SSLContext | None = None, reuse_port: bool = False) -> list[Listener]:
    """Create every listener or none: on failure the ones already open are closed again."""
    out: list[Listener] = []
    try:
        for spec in binds:
            if isinstance(spec, socket.socket):
                out.append(Listener(spec, "unix" if spec.family == socket.AF_UNIX else "tcp", ssl_context))
                continue
            kind, value = parse_bind(spec) if isinstance(spec, str) else spec
            if kind == "tcp":
                sock = bind_tcp(value[0], value[1], backlog, reuse_port)
                out.append(Listener(sock, "tcp", ssl_context))
            elif kind == "unix":
                out.append(Listener(bind_unix(value, backlog), "unix", ssl_context, unlink_path=value))
            else:
                sock = from_fd(value)
                out.append(Listener(sock, "unix" if sock.family == socket.AF_UNIX else "tcp", ssl_context))
    except BaseException:
        for listener in out:
            listener.close()
        raise
    return out
