"""The supervisor's signals: handlers only enqueue; the main loop does the work.

`set_wakeup_fd` makes the C-level handler write the signal number to a pipe, so a loop blocked in
select() wakes at once, and no signal is lost between checking the queue and going to sleep.
"""
from __future__ import annotations

import os
import signal
from collections import deque
from types import FrameType
from typing import Any

# In a worker, from the fork until it installs its own handlers (Lifecycle.install_signals), these
# are noted and replayed then: a log rotation or a retire must not kill a worker that is still
# importing the application (their default action is to terminate).  A fast stop (SIGQUIT) ends a
# booting worker at once and cleanly (its default action would dump core).
DEFERRED_IN_CHILD = (signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT)
_deferred: list[int] = []


def _defer(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGQUIT:
        os._exit(0)  # nothing served yet, nothing to drain
    _deferred.append(signum)


def take_deferred() -> list[int]:
    """The signals deferred since the fork, in order; forgets them."""
    out = list(_deferred)
    del _deferred[:len(out)]
    return out


SUPERVISOR_SIGNALS = (
    signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGCHLD,
    signal.SIGTTIN, signal.SIGTTOU, signal.SIGUSR1,
)


class SignalQueue:
    def __init__(self, signals: tuple[int, ...] = SUPERVISOR_SIGNALS) -> None:
        self.signals = signals
        self.queue: deque[int] = deque()
        self.wake_r, self.wake_w = os.pipe()
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        self._previous: dict[int, Any] = {}  # signal.signal's answer: a handler, an int or None

    def install(self) -> None:
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handler)
            # A signal must interrupt nothing half-done: restart slow syscalls instead of EINTR.
            signal.siginterrupt(sig, False)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.queue.append(signum)

    def push(self, signum: int) -> None:
        """Enqueue from a thread (the reloader) and wake the loop."""
        self.queue.append(signum)
        try:
            os.write(self.wake_w, b"\0")
        except OSError:
            pass

    def drain_pipe(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def pop(self) -> int | None:
        return self.queue.popleft() if self.queue else None

    def reset_in_child(self, inherited: int = 0) -> None:
        """After fork: the child gets default handlers and none of our pipes; the signals the
        supervisor forwards are deferred until the worker installs its handlers."""
        signal.set_wakeup_fd(-1)
        # Queued after the fork (the first `inherited` entries were the supervisor's): they were ours.
        _deferred[:] = [sig for sig in list(self.queue)[inherited:] if sig in DEFERRED_IN_CHILD]
        if signal.SIGQUIT in _deferred:
            os._exit(0)
        self.queue.clear()
        for sig in self.signals:
            if sig in DEFERRED_IN_CHILD:
                signal.signal(sig, _defer)
            elif sig in (signal.SIGTTIN, signal.SIGTTOU):
                signal.signal(sig, signal.SIG_IGN)  # their default action stops the process
            else:
                signal.signal(sig, signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
