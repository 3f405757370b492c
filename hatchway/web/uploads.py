"""Uploaded files: ``FileStorage`` (Werkzeug's shape) and ``secure_filename``.

A part's bytes go to a :class:`SpoolBuffer`: memory while small, an
anonymous temporary file once past a threshold. The temporary file is created
with :func:`tempfile.TemporaryFile`, which on POSIX is unlinked at once, so it
cannot outlive the process even if it is killed; the request closes it (and
so frees the disk space) when it ends, whether or not the view raised.
"""

import io
import os
import re
import shutil
import tempfile
import unicodedata
from typing import Any

from .datastructures import Headers

__all__ = ["FileStorage", "secure_filename", "SpoolBuffer"]


class SpoolBuffer:
    """Bytes kept in memory until ``threshold``, then in a temporary file."""

    __slots__ = ("_chunks", "size", "file", "threshold", "tempdir")

    def __init__(self, threshold, tempdir=None):
        self._chunks: Any = []  # None once spilled to a file
        self.size = 0
        self.file = None
        self.threshold = threshold
        self.tempdir = tempdir

    @property
    def in_memory(self):
        return self.file is None

    def write(self, data):
        if self.file is not None:
            self.file.write(data)
        else:
            self._chunks.append(data)
            if self.size + len(data) > self.threshold:
                self.spill()
        self.size += len(data)

    def spill(self):
        """Move what is held in memory to a temporary file (idempotent)."""
        if self.file is None:
            f = self.file = tempfile.TemporaryFile(dir=self.tempdir)
            for chunk in self._chunks:
                f.write(chunk)
            self._chunks = None

    def getvalue(self):
        """The bytes of an in-memory buffer."""
        return b"".join(self._chunks)

    def finish(self):
        """A readable stream positioned at the start."""
        f = self.file
        if f is None:
            return io.BytesIO(b"".join(self._chunks))
        f.seek(0)
        return f

    def close(self):
        if self.file is not None:
            self.file.close()


class FileStorage:
    """One uploaded file: ``filename``, ``name``, ``content_type``, ``headers``, ``stream``.

    ``read()``, ``save(dst)`` and iteration go to ``stream``, which is
    positioned at the start. Never build a path from ``filename`` as it is:
    it is whatever the client sent (``../../etc/passwd`` included); pass it
    through :func:`secure_filename` first.
    """

    __slots__ = ("stream", "filename", "name", "headers", "size")

    def __init__(self, stream=None, filename=None, name=None, content_type=None,
                 content_length=None, headers=None):
        self.stream = stream if stream is not None else io.BytesIO()
        if filename is None:
            filename = getattr(stream, "name", None)
            filename = os.path.basename(filename) if isinstance(filename, str) else None
        self.filename = filename
        self.name = name
        if headers is None:
            headers = Headers()
        if content_type is not None and "Content-Type" not in headers:
            headers.set("Content-Type", content_type)
        if content_length is not None and "Content-Length" not in headers:
            headers.set("Content-Length", str(content_length))
        self.headers = headers
        self.size = content_length

    @property
    def content_type(self):
        return self.headers.get("Content-Type")

    @property
    def content_length(self):
        raw = self.headers.get("Content-Length")
        return int(raw) if raw and raw.isdigit() else (self.size or 0)

    @property
    def mimetype(self):
        ct = self.content_type
        return ct.split(";", 1)[0].strip().lower() if ct else ""

    @property
    def mimetype_params(self):
        ct = self.content_type or ""
        params = {}
        for item in ct.split(";")[1:]:
            k, eq, v = item.partition("=")
            if eq:
                params[k.strip().lower()] = v.strip().strip('"')
        return params

    def read(self, size=-1):
        return self.stream.read(size)

    def readline(self, size=-1):
        return self.stream.readline(size)

    def seek(self, offset, whence=0):
        return self.stream.seek(offset, whence)

    def tell(self):
        return self.stream.tell()

    def __iter__(self):
        return iter(self.stream)

    def save(self, dst, buffer_size=64 * 1024):
        """Copy the file to ``dst``: a path (opened ``wb``) or a writable file object."""
        if isinstance(dst, (str, os.PathLike)):
            with open(dst, "wb") as out:
                shutil.copyfileobj(self.stream, out, buffer_size)
        else:
            shutil.copyfileobj(self.stream, dst, buffer_size)

    def close(self):
        try:
            self.stream.close()
        except Exception:
            pass

    @property
    def closed(self):
        return getattr(self.stream, "closed", False)

    def __bool__(self):
        return bool(self.filename)

    def __repr__(self):
        return f"<FileStorage: {self.filename!r} ({self.content_type!r})>"


_FILENAME_STRIP = re.compile(r"[^A-Za-z0-9_.-]")
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))]
)


def secure_filename(filename):
    """A safe file name for the local file system, from whatever the client sent.

    ASCII letters, digits, ``_``, ``-`` and ``.`` survive; path separators
    and whitespace become ``_``; leading dots and underscores go (no hidden
    files, no ``..``); Windows device names get a ``_`` prefix. The result
    may be empty: pick a name yourself then.

    >>> secure_filename("../../etc/passwd")
    'etc_passwd'
    >>> secure_filename("My cool movie.mov")
    'My_cool_movie.mov'
    """
    filename = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    for sep in ("/", "\\"):
        filename = filename.replace(sep, " ")
    filename = _FILENAME_STRIP.sub("", "_".join(filename.split())).strip("._")
    if filename and filename.split(".")[0].upper() in _WINDOWS_DEVICES:
        filename = "_" + filename
    return filename
