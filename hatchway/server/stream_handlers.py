"""Request handlers in the socketserver shape: one handler instance per accepted connection.

`BaseRequestHandler` is socketserver's: `setup()`, `handle()`, `finish()` run in that order from the
constructor, with `self.request` (the connected socket), `self.client_address` and `self.server`.

`StreamRequestHandler` adds `rfile` (buffered, iterable by line) and `wfile` (each write goes out at
once) and, unlike the stdlib, timeouts that are on by default: a read waits at most `read_timeout`
seconds for bytes, a write at most `write_timeout` seconds for progress.  Either raises
`TimeoutError`, which ends the connection.
"""
from __future__ import annotations

import io
import socket
from typing import Any


class BaseRequestHandler:
    """Override `handle()`; `setup()` and `finish()` are optional."""

    def __init__(self, request: Any, client_address: Any, server: Any) -> None:
        self.request = request
        self.client_address = client_address
        self.server = server
        self.setup()
        try:
            self.handle()
        finally:
            self.finish()

    def setup(self) -> None:
        pass

    def handle(self) -> None:
        pass

    def finish(self) -> None:
        pass


class StreamRequestHandler(BaseRequestHandler):
    rbufsize = -1            # io.DEFAULT_BUFFER_SIZE; 0 would make every readline a recv per byte
    wbufsize = 0             # 0: unbuffered, each write() is sent before it returns
    timeout = None           # socketserver's knob: when set, it is both read and write timeout
    read_timeout = 60.0      # seconds a read waits for the peer; None waits forever
    write_timeout = 30.0     # seconds a write waits for progress on a slow reader; None forever
    disable_nagle_algorithm = True  # writes go out at once, so do not let Nagle hold them back

    def setup(self) -> None:
        self.connection = sock = self.request
        if self.timeout is not None:
            read_t = write_t = self.timeout
        else:
            read_t, write_t = self.read_timeout, self.write_timeout
        sock.settimeout(read_t)
        if self.disable_nagle_algorithm and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            except OSError:
                pass
        self.rfile = sock.makefile("rb", self.rbufsize)
        writer = SocketWriter(sock, write_t, read_t)
        self.wfile = writer if self.wbufsize == 0 else io.BufferedWriter(writer, self.wbufsize)

    def finish(self) -> None:
        if not self.wfile.closed:
            try:
                self.wfile.flush()
            except OSError:
                pass  # the peer is gone; nothing left to tell it
        self.wfile.close()
        self.rfile.close()


class SocketWriter(io.BufferedIOBase):
    """wfile: `write()` returns once every byte is handed to the kernel.

    The socket's timeout is the read timeout (so `self.request.recv()` in a handler behaves like
    `rfile`); a write switches it to the write timeout for its duration.  The timeout applies to
    each `send()`, so it bounds the time without progress, not the time for the whole write: a
    large response to a slow but live reader is not cut off.
    """

    def __init__(self, sock: socket.socket, write_timeout: float | None, read_timeout: float | None) -> None:
        self._sock = sock
        self._write_timeout = write_timeout
        self._read_timeout = read_timeout

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        sock = self._sock
        swap = self._write_timeout != self._read_timeout
        if swap:
            sock.settimeout(self._write_timeout)
        try:
            view = memoryview(b).cast("B")
            total = len(view)
            sent = 0
            while sent < total:
                sent += sock.send(view[sent:])
        finally:
            if swap:
                sock.settimeout(self._read_timeout)
        return total

    def getbuffer(self) -> memoryview:
        raise io.UnsupportedOperation("getbuffer")

    def fileno(self) -> int:
        return self._sock.fileno()
