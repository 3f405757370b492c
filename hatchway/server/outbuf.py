"""A connection's output buffer: socket writes that never lose order and never copy more than needed.

Protocol-agnostic: it moves bytes and file ranges to a socket and knows nothing of HTTP.  It owns
the syscalls (`send`, one `sendmsg` of up to IOV_MAX buffers, `os.sendfile` for file ranges) and
the spill: output held while nobody can wait for the socket is kept in memory up to a watermark,
then appended to a temporary file that drains through sendfile.  What to do when the socket is full
(wait, park the connection, or hold the output) is the caller's decision: `send()` just says so.

Output can also be deferred (`defer`): queued unsent so that many small writes go out in one call,
while another thread promises to send it soon (`send_deferred`).  While anything is deferred, every
operation on the buffer takes the lock the two threads share; otherwise none does.
"""
from __future__ import annotations

from typing import Any, Final

import os
import select
import stat
import tempfile

from .errors import ClientGone

IOV_MAX: Final = 1024  # Linux's limit on the buffers of one sendmsg
RECV_SIZE: Final = 65536  # also the size of one pread of spilled output through TLS (no sendfile there)

# "Would block": TLS adds its own two errors when the first TLS connection is made (enable_tls), so
# a server without TLS never imports ssl (about 5 MiB of RSS).
WANT_READ: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)
WANT_WRITE: tuple[type[BaseException], ...] = (BlockingIOError, InterruptedError)


def enable_tls(ssl: Any) -> None:
    global WANT_READ, WANT_WRITE
    if len(WANT_READ) == 2:
        WANT_READ = (BlockingIOError, InterruptedError, ssl.SSLWantReadError)
        WANT_WRITE = (BlockingIOError, InterruptedError, ssl.SSLWantWriteError)


class FileRange:
    """Part of a file still to be sent with os.sendfile.  Only ever the last item of a buffer list,
    or followed by more ranges of the same spill file."""

    __slots__ = ("fd", "offset", "count")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count


def file_range(filelike: Any) -> FileRange | None:
    """The rest of a regular file as a FileRange, or None when it cannot go out by sendfile (no fd,
    a pipe, a /proc file, nothing left): the caller then iterates the file instead."""
    try:
        fd = filelike.fileno()
        offset = filelike.tell()
        st = os.fstat(fd)
    except (AttributeError, OSError, ValueError):
        return None
    size = st.st_size - offset
    if not stat.S_ISREG(st.st_mode) or size <= 0:
        return None
    return FileRange(fd, offset, size)


class OutputBuffer:
    """What is still to be written to one socket, in order: bytes-like buffers, then file ranges."""

    __slots__ = ("sock", "tls", "bufs", "spill", "deferred", "lock", "deferring", "error")

    bufs: list[Any]
    spill: Any  # None, or the temporary file holding output past the watermark
    deferred: int  # bytes defer() queued that are not sent yet: non-zero only while listed in `deferring`
    lock: Any  # the lock shared with the thread that sends deferred output (set by defer)
    deferring: Any  # that thread's list of buffers with deferred output
    error: Any  # why that thread's send failed: the owner's next send() raises it

    def __init__(self, sock: Any, tls: bool) -> None:
        self.sock = sock
        self.tls = tls
        self.bufs = []
        self.spill = None
        self.deferred = 0
        self.lock = self.deferring = self.error = None

    def add(self, bufs: list[Any]) -> None:
        """Queue bufs behind what is pending (behind the spill file, once there is one)."""
        if self.deferred:
            with self.lock:
                self._add(bufs)
        else:
            self._add(bufs)

    def defer(self, bufs: list[Any], n: int, lock: Any, deferring: list[Any], limit: int) -> bool:
        """Queue bufs (n bytes of payload) without sending them; the thread that owns `deferring` and
        `lock` sends deferred output by send_deferred(), soon.  False once `limit` bytes or IOV_MAX
        buffers are deferred: the caller should send now."""
        with lock:
            self._add(bufs)
            if not self.deferred:
                self.lock = lock
                self.deferring = deferring
                deferring.append(self)
            self.deferred += n
            return self.deferred < limit and len(self.bufs) < IOV_MAX

    def send_deferred(self) -> None:
        """The other thread, holding the lock: send what is deferred, without blocking."""
        try:
            if not self._send():
                return
        except Exception as exc:  # the peer is gone (or worse): the owner's next send() says so
            self.error = str(exc) or "write failed"
            self.bufs = []
        self._undefer()

    def reclaim(self) -> None:
        """The owner waits for the socket itself from here: the other thread stops sending."""
        if self.deferred:
            with self.lock:
                if self.deferred:
                    self._undefer()

    def _undefer(self) -> None:
        self.deferred = 0
        self.deferring.remove(self)

    def _add(self, bufs: list[Any]) -> None:
        if not self.bufs:
            self.bufs = bufs
        elif self.spill is not None:
            self._to_spill(bufs)
        else:
            self.bufs.extend(bufs)

    def send(self) -> bool:
        """Write as much as the socket takes: True when everything is out, False when it is full.
        Raises ClientGone when the peer is gone."""
        if self.deferred:
            with self.lock:
                done = self._send()
                if done and self.deferred:
                    self._undefer()
            return done
        if self.error is not None:
            raise ClientGone(self.error)
        return self._send()

    def _send(self) -> bool:
        pending = self.bufs
        sock = self.sock
        tls = self.tls
        while pending:
            first = pending[0]
            try:
                if type(first) is FileRange:
                    if tls:  # no sendfile through TLS: only spilled output comes here
                        n = sock.send(os.pread(first.fd, min(first.count, RECV_SIZE), first.offset))
                    else:
                        n = os.sendfile(sock.fileno(), first.fd, first.offset, min(first.count, 1 << 30))
                    if n == 0:
                        raise ClientGone("file ended before the promised length")
                    first.offset += n
                    first.count -= n
                    if not first.count:
                        pending.pop(0)
                        spill = self.spill
                        if spill is not None and first.fd == spill.fileno():
                            self.drop_spill()
                    continue
                if len(pending) == 1 or tls or type(pending[1]) is FileRange:
                    n = sock.send(first)
                else:
                    # File ranges come last; the buffers before them go in one sendmsg.
                    end = len(pending) - 1 if type(pending[-1]) is FileRange else len(pending)
                    n = sock.sendmsg(pending[:min(end, IOV_MAX)] if end != len(pending) or end > IOV_MAX
                                     else pending)
            except WANT_WRITE:
                return False
            except OSError as exc:
                self.bufs = []
                raise ClientGone(f"write failed: {exc.strerror or exc}") from None
            while n:  # drop what went out
                first = pending[0]
                size = len(first)
                if n >= size:
                    n -= size
                    pending.pop(0)
                    if not pending or type(pending[0]) is FileRange:
                        break
                else:
                    pending[0] = memoryview(first)[n:]
                    n = 0
        return True

    def hold(self, watermark: int) -> None:
        """Nobody may wait for the socket now: keep the output, in memory up to `watermark` bytes,
        past it in a temporary file (so a client that never reads costs disk, not memory)."""
        pending = self.bufs
        if self.spill is not None or not pending:
            return
        size = 0
        for b in pending:
            if type(b) is not FileRange:
                size += len(b)
        if size > watermark:
            keep = [pending[0]] if type(pending[0]) is not FileRange else []
            self.bufs = keep
            self._to_spill(pending[len(keep):])

    def _to_spill(self, bufs: list[Any]) -> None:
        f = self.spill
        if f is None:
            f = self.spill = tempfile.TemporaryFile()
        offset = f.seek(0, 2)
        for b in bufs:  # only bytes-like: a FileRange starts a response, and nothing spills then
            f.write(b)
        f.flush()  # sendfile reads the fd: nothing may stay in the file object's buffer
        count = f.tell() - offset
        pending = self.bufs
        last = pending[-1] if pending else None
        if type(last) is FileRange and last.fd == f.fileno():
            last.count += count
        else:
            pending.append(FileRange(f.fileno(), offset, count))

    def clear(self) -> None:
        """Forget everything pending (the connection is closing, or the response is replaced)."""
        self.reclaim()
        self.bufs = []
        self.drop_spill()

    def drop_spill(self) -> None:
        f = self.spill
        if f is not None:
            self.spill = None
            f.close()


def wait(sock: Any, events: int, timeout: float) -> bool:
    """Block until sock is ready, up to timeout.  By the socket object, never a stored fd number:
    if another thread closed it, the number may already belong to someone else."""
    fd = sock.fileno()
    if fd < 0:
        raise ClientGone("connection closed")
    p = select.poll()
    p.register(fd, events)
    return bool(p.poll(max(0.0, timeout) * 1000))
