"""The body of one request as it arrives, in memory up to a threshold and then in a temporary file."""
from __future__ import annotations

from typing import Any, Final

import tempfile
from collections import deque


class Body:
    """The body of one request as it arrives.  Chunks queue in memory; past `spill_at` unread bytes
    they move to an anonymous temporary file, so buffering a large upload costs no memory."""

    __slots__ = ("chunks", "buffered", "received", "complete", "error", "discard", "file", "spill_at", "_file_pos")

    error: Any  # None or a value: declared for mypyc
    def __init__(self, spill_at: int):
        self.chunks: Any = deque()
        self.buffered = 0      # bytes held in chunks or file, not yet consumed
        self.received = 0      # bytes seen in total
        self.complete = False  # end of message reached
        self.error = None      # a Reject when the body turned out malformed or too big
        self.discard = False   # the reader is gone: count bytes, keep none
        self.file: Any = None
        self.spill_at = spill_at
        self._file_pos = 0

    def append(self, data: bytes) -> None:
        n = len(data)
        self.received += n
        if self.discard:
            return
        self.buffered += n
        if self.file is not None:
            self.file.seek(0, 2)
            self.file.write(data)
        elif self.buffered > self.spill_at:
            f = tempfile.TemporaryFile()
            for c in self.chunks:
                f.write(c)
            f.write(data)
            self.chunks.clear()
            self.file = f
            self._file_pos = 0
        else:
            self.chunks.append(data)

    def take(self, limit: int = -1) -> bytes:
        """Up to `limit` buffered bytes (all when negative); b"" when nothing is buffered."""
        if not self.buffered:
            return b""
        if self.file is not None:
            f = self.file
            f.seek(self._file_pos)
            data: bytes = f.read(limit if limit >= 0 else self.buffered)
            self._file_pos += len(data)
            self.buffered -= len(data)
            if not self.buffered:
                f.seek(0)
                f.truncate()
                self._file_pos = 0
            return data
        chunks = self.chunks
        if limit < 0 or limit >= self.buffered:
            data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self.buffered = 0
            return data
        first = chunks[0]
        if len(first) > limit:
            chunks[0] = first[limit:]
            self.buffered -= limit
            return bytes(first[:limit])
        out = []
        need = limit
        while need and chunks:
            c = chunks.popleft()
            if len(c) > need:
                chunks.appendleft(c[need:])
                c = c[:need]
            out.append(c)
            need -= len(c)
        data = b"".join(out)
        self.buffered -= len(data)
        return data

    def peek_line(self, limit: int) -> int:
        """Index just past the first b"\\n" within the first `limit` buffered bytes, or -1."""
        if self.file is not None:
            # Scan in blocks from the read position: reading line by line stays linear.
            f = self.file
            f.seek(self._file_pos)
            todo = self.buffered if limit < 0 else min(limit, self.buffered)
            scanned = 0
            while scanned < todo:
                block: bytes = f.read(min(8192, todo - scanned))
                if not block:
                    break
                i = block.find(b"\n")
                if i >= 0:
                    return scanned + i + 1
                scanned += len(block)
            return -1
        seen = 0
        for c in self.chunks:
            i = c.find(b"\n")
            if i >= 0:
                pos = seen + i + 1
                return pos if limit < 0 or pos <= limit else -1
            seen += len(c)
            if 0 <= limit <= seen:
                return -1
        return -1

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.chunks.clear()
        self.buffered = 0


class _EmptyBody(Body):
    """The body of every request that has none: shared, complete, always empty."""

    def append(self, data: bytes) -> None:
        raise AssertionError("a bodiless request received body bytes")


EMPTY_BODY: Final = _EmptyBody(0)
EMPTY_BODY.complete = True
