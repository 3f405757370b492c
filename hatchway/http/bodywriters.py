"""Body writers: how the bytes of a response body go on the wire, one writer per framing mode.

`frame()` (http/response.py) decides the mode; the writer for it turns each piece of body the
application produces into wire pieces, appended to a list of buffers (no copies: the application's
own bytes objects go out as they are).  The writers do no I/O.  They own the two mistakes an
application can make with framing: a LENGTH writer never lets more than Content-Length bytes
through (`write` says False when it dropped a surplus) and tells how many were missing at the end.
"""
from __future__ import annotations

from typing import Any, Final

from .response import CHUNKED, CLOSE, LENGTH

LAST_CHUNK: Final = b"0\r\n\r\n"
_CRLF: Final = b"\r\n"


class BodyWriter:
    """The body of one response.  `sent` counts the body bytes the application produced that were
    accepted (for NO_BODY: produced and dropped, as the access log reports them)."""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = 0

    def write(self, chunk: Any, bufs: list[Any]) -> bool:
        """Append the wire pieces of chunk (non-empty, bytes-like) to bufs.  False when part of it
        could not be sent within the framing (the surplus is dropped; the caller closes)."""
        raise NotImplementedError

    def end(self, bufs: list[Any]) -> None:
        """Append what ends the body on the wire."""

    def missing(self) -> int:
        """Body bytes promised and not produced: the connection cannot be reused when non-zero."""
        return 0


class LengthWriter(BodyWriter):
    """Content-Length framing: exactly `length` bytes, the surplus dropped."""

    __slots__ = ("length", "attempted")

    def __init__(self, length: int) -> None:
        self.sent = 0
        self.length = length
        self.attempted = 0  # once write() said False: how many bytes the application tried to send

    def write(self, chunk: Any, bufs: list[Any]) -> bool:
        n = len(chunk)
        left = self.length - self.sent
        if n <= left:
            bufs.append(chunk)
            self.sent += n
            return True
        self.attempted = self.sent + n
        if left:
            bufs.append(chunk[:left])
        self.sent = self.length
        return False

    def missing(self) -> int:
        return self.length - self.sent


class ChunkedWriter(BodyWriter):
    """Transfer-Encoding: chunked (RFC 9112 7.1): each piece as one chunk, then the last chunk."""

    __slots__ = ()

    def write(self, chunk: Any, bufs: list[Any]) -> bool:
        n = len(chunk)
        bufs.append(b"%x\r\n" % n)
        bufs.append(chunk)
        bufs.append(_CRLF)
        self.sent += n
        return True

    def end(self, bufs: list[Any]) -> None:
        bufs.append(LAST_CHUNK)


class CloseWriter(BodyWriter):
    """Close-delimited (HTTP/1.0 without a length): the body ends when the connection does."""

    __slots__ = ()

    def write(self, chunk: Any, bufs: list[Any]) -> bool:
        bufs.append(chunk)
        self.sent += len(chunk)
        return True


class NoBodyWriter(BodyWriter):
    """HEAD, 1xx, 204, 304: whatever the application produces never reaches the wire."""

    __slots__ = ()

    def write(self, chunk: Any, bufs: list[Any]) -> bool:
        self.sent += len(chunk)
        return True


def writer_for(mode: int, length: int | None) -> BodyWriter:
    """The writer for a framing decision (`Framing.mode`, `Framing.length`)."""
    if mode == LENGTH:
        return LengthWriter(length or 0)
    if mode == CHUNKED:
        return ChunkedWriter()
    if mode == CLOSE:
        return CloseWriter()
    return NoBodyWriter()


def as_bytes(chunk: Any) -> Any:
    """A piece of body that is not `bytes`: bytes-like is fine (as a flat byte view), anything else is an error."""
    if isinstance(chunk, bytearray):
        return chunk
    if isinstance(chunk, memoryview):
        return chunk if chunk.format == "B" and chunk.ndim == 1 else chunk.cast("B")
    raise TypeError(f"the application must produce bytes, not {type(chunk).__name__}")
