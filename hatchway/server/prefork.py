"""A prefork pool: N child processes forked once, kept at N, stopped and reaped on request.

The children share whatever the parent had open before forking (a listening socket, typically)
and each runs `child_main(stop_fd)`.  The parent never touches their work; it only supervises:

* Stop signal: every child holds the read end of one pipe whose write end only the parent holds.
  Closing it makes `stop_fd` readable (EOF) in every child at once.  The same EOF arrives if the
  parent dies, so children never outlive their parent, with no signals and no getppid polling.
* A child that exits while the pool is running is replaced.  A child that dies young (within
  `YOUNG` seconds of its start) delays the next spawn by `RESPAWN_DELAY`, so a child that crashes
  at start-up costs a fork per second, not a fork loop.
* `stop()` closes the pipe, waits up to `graceful_timeout` for the children to finish what they
  are doing, then SIGKILLs the rest, and reaps every one of them.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable, Collection

log = logging.getLogger("hatchway.error")

YOUNG = 1.0
RESPAWN_DELAY = 1.0


class Prefork:
    def __init__(self, count: int, child_main: Callable[[int], int | None], graceful_timeout: float = 30.0) -> None:
        if count < 1:
            raise ValueError("a prefork pool needs at least one process")
        self.count = count
        self.child_main = child_main
        self.graceful_timeout = graceful_timeout
        self.children: dict[int, float] = {}   # pid -> start time
        self._pidfds: dict[int, int] = {}      # pid -> pidfd, when the kernel has them
        self._stop_r = self._stop_w = -1
        self._spawn_after = 0.0

    @property
    def pids(self) -> list[int]:
        return list(self.children)

    def start(self) -> None:
        self._stop_r, self._stop_w = os.pipe()
        self._spawn_missing()

    def supervise(self, timeout: float, wake_fd: int = -1) -> None:
        """Wait up to `timeout` for a child to exit or `wake_fd` to become readable; reap and
        replace exited children."""
        poller = select.poll()
        if wake_fd >= 0:
            poller.register(wake_fd, select.POLLIN)
        for fd in self._pidfds.values():
            poller.register(fd, select.POLLIN)
        if len(self.children) < self.count:
            timeout = min(timeout, max(0.0, self._spawn_after - time.monotonic()))
        elif not self._pidfds:
            timeout = min(timeout, 0.1)  # no pidfds: notice exits by polling waitpid
        poller.poll(timeout * 1000)
        self._reap()
        self._spawn_missing()

    def stop(self) -> None:
        if self._stop_w >= 0:
            os.close(self._stop_w)
            self._stop_w = -1
        deadline = time.monotonic() + self.graceful_timeout
        while self.children and time.monotonic() < deadline:
            self._reap()
            if self.children:
                self._wait_any(min(0.1, max(0.0, deadline - time.monotonic())))
        for pid in list(self.children):
            log.warning("prefork: child %d did not stop within %.1fs; killing it", pid, self.graceful_timeout)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while self.children:
            self._reap(block=True)
        if self._stop_r >= 0:
            os.close(self._stop_r)
            self._stop_r = -1

    # -- internals ---------------------------------------------------------------------------------
    def _wait_any(self, timeout: float) -> None:
        if self._pidfds:
            poller = select.poll()
            for fd in self._pidfds.values():
                poller.register(fd, select.POLLIN)
            poller.poll(timeout * 1000)
        else:
            time.sleep(timeout)  # no pidfds (old kernel): nothing to wait on but the clock

    def _reap(self, block: bool = False) -> None:
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0  # reaped by someone else; it is gone either way
            if done == 0:
                continue
            started = self.children.pop(pid)
            fd = self._pidfds.pop(pid, None)
            if fd is not None:
                os.close(fd)
            if self._stop_w >= 0:
                code = os.waitstatus_to_exitcode(status) if status else 0
                log.error("prefork: child %d exited unexpectedly (status %s); replacing it", pid, code)
                if time.monotonic() - started < YOUNG:
                    self._spawn_after = time.monotonic() + RESPAWN_DELAY

    def _spawn_missing(self) -> None:
        if self._stop_w < 0 or time.monotonic() < self._spawn_after:
            return
        while len(self.children) < self.count:
            self._spawn()

    def _spawn(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._run_child()  # never returns
        self.children[pid] = time.monotonic()
        try:
            self._pidfds[pid] = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass

    def _run_child(self) -> None:
        code = 1
        try:
            os.close(self._stop_w)
            for fd in self._pidfds.values():
                os.close(fd)
            try:
                # A terminal's Ctrl-C reaches the whole process group; the parent coordinates the
                # stop, so the children must not die mid-request from it.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            except ValueError:
                pass
            code = self.child_main(self._stop_r) or 0
        except BaseException:
            log.exception("prefork: child %d failed", os.getpid())
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)


def release_inherited_sockets(keep: Collection[int]) -> None:
    """In a child: let go of the stream sockets inherited from the parent, except `keep` (fds).

    A forked child holds a copy of every socket the parent had open: its own client connections,
    other servers' listeners.  Such a copy keeps a connection open after the parent closes it (the
    peer never sees EOF) and a port bound after the parent releases it.  Each one is replaced by
    /dev/null rather than closed, so the fd number stays taken and a stale socket object that
    closes it later cannot close an unrelated file that reused the number.
    """
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return  # no /proc: keep everything, as a plain fork would
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in fds:
            if fd in keep or fd <= 2 or fd == null:
                continue
            try:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                probe = socket.socket(fileno=fd)
                try:
                    release = probe.type == socket.SOCK_STREAM and probe.family in (
                        socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)
                finally:
                    probe.detach()
                if release:
                    os.dup2(null, fd, inheritable=False)
            except OSError:
                continue
    finally:
        os.close(null)
