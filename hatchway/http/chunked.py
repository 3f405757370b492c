"""The chunked transfer coding (RFC 9112 7.1), decoded as bytes arrive: sizes, extensions, data, trailers.

llhttp reads the heads; a chunked body is decoded here because llhttp's strict mode refuses the
bad whitespace (BWS) that RFC 9112 7.1.1 allows around `;` and `=` in chunk extensions and that
recipients must accept, and because it reports no chunk size, so a size far past the body limit
could only be noticed once the bytes had come.  Here the size line is judged whole: a size over
the limit is a 413 at once; everything outside the grammar (bare LF, non-hex, a sign, overflow,
controls, an unterminated quote, obs-fold in a trailer) is a 400, as before.
"""
from __future__ import annotations

import re
from typing import Any

from . import policy
from .policy import Limits

# chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_size_line = re.compile(
    rb"([0-9A-Fa-f]+)(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
).fullmatch
_field_line = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([\t\x20-\x7e\x80-\xff]*)").fullmatch
_HEX = b"0123456789abcdefABCDEF"
# A size line longer than this is not a chunk size with sane extensions (llhttp allows no more).
MAX_SIZE_LINE = 4096

SIZE = 0        # reading a chunk-size line
DATA = 1        # inside chunk data: `left` bytes to come
DATA_END = 2    # the CRLF after chunk data
TRAILERS = 3    # reading trailer fields, up to the empty line


class ChunkedDecoder:
    """Feeds decoded data into `body` and says where in the input the message ended."""

    __slots__ = ("body", "limits", "state", "left", "line", "fields", "size")

    def __init__(self, body: Any, limits: Limits, fields: int, size: int):
        self.body = body
        self.limits = limits
        self.state = SIZE
        self.left = 0
        self.line = b""          # a line (or the data CRLF) cut by a feed boundary
        self.fields = fields     # header fields so far: trailers count against the same limits
        self.size = size

    def feed(self, data: bytes) -> int:
        """Decode `data`; the offset just past the end of the message, or -1 if it needs more.
        Raises policy.Reject when the framing is broken or too big."""
        n = len(data)
        pos = 0
        while pos < n:
            state = self.state
            if state == DATA:
                take = min(self.left, n - pos)
                self.body.append(data[pos:pos + take])
                pos += take
                self.left -= take
                if not self.left:
                    self.state = DATA_END
                continue
            if state == DATA_END:
                need = 2 - len(self.line)
                got = self.line + data[pos:pos + need]
                pos += min(need, n - pos)
                if got != b"\r\n"[:len(got)]:
                    raise policy.bad_chunked()
                if len(got) < 2:
                    self.line = got
                    return -1
                self.line = b""
                self.state = SIZE
                continue
            end = data.find(b"\n", pos)
            if end < 0:
                self.line += data[pos:]
                if len(self.line) > MAX_SIZE_LINE:
                    raise policy.bad_chunked() if state == SIZE else policy.fields_too_large()
                return -1
            line = self.line + data[pos:end + 1]
            self.line = b""
            pos = end + 1
            # find(), not `b"\r" in`: bytes.__contains__ tries the int protocol first and pays for a
            # TypeError on every bytes needle.
            if line[-2:-1] != b"\r" or line.find(b"\r", 0, len(line) - 2) >= 0:
                raise policy.bad_chunked()  # a bare LF or CR
            line = line[:-2]
            if state == SIZE:
                self._size_line(line)
            elif not line:
                return pos  # the empty line after the trailers: the message ends here
            else:
                self._trailer(line)
        return -1

    def _size_line(self, line: bytes) -> None:
        if line and not line.strip(_HEX):  # the usual line, a bare size: no regex
            digits = line.lstrip(b"0")
        else:
            m = _size_line(line)
            if m is None:
                raise policy.bad_chunked()
            digits = m.group(1).lstrip(b"0")
        if len(digits) > 16:
            raise policy.bad_chunked()  # past 64 bits, as llhttp refused it
        size = int(digits, 16) if digits else 0
        if size:
            policy.check_body_size(self.body.received + size, self.limits)
            self.left = size
            self.state = DATA
        else:
            self.state = TRAILERS

    def _trailer(self, line: bytes) -> None:
        """A trailer field: validated and bounded like a header, then dropped (not passed on)."""
        limits = self.limits
        self.fields += 1
        self.size += len(line) + 2
        max_field = limits.max_field_size or limits.max_header_size
        if self.fields > limits.max_header_count or self.size > limits.max_header_size or len(line) > max_field:
            raise policy.fields_too_large()
        if _field_line(line) is None:
            raise policy.bad_chunked()  # obs-fold, whitespace before the colon, controls
