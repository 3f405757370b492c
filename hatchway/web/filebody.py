"""A region of an open binary file used as a response body.

It is both an iterable of chunks (what any WSGI server can send) and a
file-like object with ``read``/``fileno``/``tell`` bounded to the region,
which is what ``wsgi.file_wrapper`` wants: hatchway's server then sends it
with ``os.sendfile`` from ``tell()`` for ``Content-Length`` bytes, and a
server that iterates the wrapper still stops at the end of the region.
"""

import io
import os
import stat

__all__ = ["FileBody"]

_BLOCK = 64 * 1024


class FileBody:
    """``start=None`` reads from wherever the file is (pipes cannot seek); a length
    that cannot be known (a pipe) is None: the body then streams to EOF and has
    no ranges."""

    __slots__ = ("file", "start", "length", "_left", "_positioned")

    def __init__(self, file, start=0, length=None):
        self.file = file
        self.start = start
        self._positioned = start is None
        if length is None:
            size = _size_of(file)
            if size is not None:
                length = size - (start or 0)
        self.length = None if length is None else max(0, length)
        self._left = self.length

    @property
    def size(self):
        return self.length

    def region(self, start, stop):
        """A body for bytes ``[start, stop)`` of this one, sharing the file."""
        return FileBody(self.file, self.start + start, stop - start)

    def _position(self):
        if not self._positioned:
            self.file.seek(self.start)
            self._positioned = True

    # file-like, for wsgi.file_wrapper
    def read(self, n=-1):
        self._position()
        left = self._left
        if left is None:
            return self.file.read(-1 if n is None else n)
        if left <= 0:
            return b""
        if n is None or n < 0 or n > left:
            n = left
        data = self.file.read(n)
        self._left = left - len(data)
        return data

    def fileno(self):
        return self.file.fileno()

    def tell(self):
        self._position()
        return self.file.tell()

    def read_region(self, start, stop):
        """Bytes ``[start, stop)`` relative to this body (for multipart/byteranges)."""
        self.file.seek(self.start + start)
        self._positioned = False
        return self.file.read(stop - start)

    # iterable, for everything else
    def __iter__(self):
        read = self.read
        while True:
            chunk = read(_BLOCK)
            if not chunk:
                return
            yield chunk

    def close(self):
        close = getattr(self.file, "close", None)
        if close is not None:
            close()

    def __repr__(self):
        return f"<FileBody {getattr(self.file, 'name', self.file)!r} from {self.start} length {self.length}>"


def _size_of(file):
    """Size in bytes, or None when it cannot be known without reading (pipes, sockets)."""
    if isinstance(file, io.BytesIO):
        return file.getbuffer().nbytes
    try:
        st = os.fstat(file.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        st = None
    if st is not None:
        return st.st_size if stat.S_ISREG(st.st_mode) else None
    try:
        here = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(here)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return end
