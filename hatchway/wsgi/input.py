"""wsgi.input: the request body, streamed with backpressure.

Reads take what the connection has buffered and ask it for more only when needed, so the peer is
throttled by TCP flow control, not by our memory.  At the end of the body every read returns b""
at once: nothing ever blocks past the framing.  `100 Continue` goes out on the first read that
needs bytes the client has not sent yet.
"""
from __future__ import annotations

from typing import Final

from .errors import BodyError


class Input:
    __slots__ = ("_conn", "_req", "_body")

    def __init__(self, conn, req):
        self._conn = conn
        self._req = req
        self._body = req.body

    def _more(self) -> bool:
        """Fetch more body bytes; False at the end of the body."""
        body = self._body
        if body.complete:
            return False
        if body.error is not None:
            raise BodyError(body.error.status, body.error.reason)
        self._conn.read_body(self._req)
        if body.error is not None:
            raise BodyError(body.error.status, body.error.reason)
        return True

    def read(self, size=-1) -> bytes:
        body = self._body
        if size is None or size < 0:
            while self._more():
                pass
            return body.take()
        if size == 0:
            return b""
        while body.buffered < size and self._more():
            pass
        return body.take(size)

    def read1(self, size=-1) -> bytes:
        body = self._body
        if not body.buffered:
            self._more()
        return body.take(size if size is not None and size >= 0 else -1)

    def readline(self, size=-1) -> bytes:
        body = self._body
        if size is None:
            size = -1
        if size == 0:
            return b""
        while True:
            end = body.peek_line(size)
            if end >= 0:
                return body.take(end)
            if 0 <= size <= body.buffered:
                return body.take(size)
            if not self._more():
                return body.take(size)

    def readlines(self, hint=-1) -> list:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        pass


class EmptyInput:
    """wsgi.input of every bodiless request: one shared object, always at end of body."""

    __slots__ = ()

    def read(self, size=-1) -> bytes:
        return b""

    # Methods, not aliases: a compiled (mypyc) class drops class attributes bound to functions.
    def read1(self, size=-1) -> bytes:
        return b""

    def readline(self, size=-1) -> bytes:
        return b""

    def readlines(self, hint=-1) -> list:
        return []

    def __iter__(self):
        return iter(())

    def close(self) -> None:
        pass


EMPTY_INPUT: Final = EmptyInput()
