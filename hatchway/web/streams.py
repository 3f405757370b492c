"""A read-only stream that stops at Content-Length.

Reading ``wsgi.input`` past the declared length can block forever on a
keep-alive connection; this wrapper makes that impossible.
"""

import io

__all__ = ["LimitedStream", "CappedStream"]


class LimitedStream(io.RawIOBase):
    def __init__(self, stream, limit):
        self._stream = stream
        self.limit = limit
        self._pos = 0

    def readable(self):
        return True

    def read(self, size=-1):
        remaining = self.limit - self._pos
        if remaining <= 0 or self._stream is None:
            return b""
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = self._stream.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readline(self, size=-1):
        remaining = self.limit - self._pos
        if remaining <= 0 or self._stream is None:
            return b""
        if size is None or size < 0 or size > remaining:
            size = remaining
        line = self._stream.readline(size)
        self._pos += len(line)
        return line

    def tell(self):
        return self._pos


class CappedStream(LimitedStream):
    """A body without Content-Length (the server de-chunked it and promises
    EOF): read to its end, but past ``cap`` bytes raise 413 instead of
    letting a client stream forever."""

    def __init__(self, stream, cap):
        super().__init__(stream, float("inf"))
        self.cap = cap

    def read(self, size=-1):
        if self._stream is None:
            return b""
        if size is None or size < 0:
            size = (self.cap - self._pos + 1) if self.cap is not None else -1
        data = self._stream.read(size)
        self._pos += len(data)
        if self.cap is not None and self._pos > self.cap:
            from .exceptions import RequestEntityTooLarge

            raise RequestEntityTooLarge(f"The request body exceeds the limit of {self.cap} bytes.")
        return data

    def readline(self, size=-1):
        line = self._stream.readline(size) if self._stream is not None else b""
        self._pos += len(line)
        if self.cap is not None and self._pos > self.cap:
            from .exceptions import RequestEntityTooLarge

            raise RequestEntityTooLarge(f"The request body exceeds the limit of {self.cap} bytes.")
        return line
