"""The per-request watchdog: a thread that notices requests stuck in the application.

Callers bracket the application with `enter()` / `leave(token)` on the thread that runs it.  Every
`interval` the watchdog looks at the open entries; one that has run longer than `timeout` gets
the stack of its thread logged, once.  One past `hard_timeout` is reported to `on_hard_timeout`,
once, so the process can be recycled when the other requests on it are done.

Unlike gunicorn's worker timeout, nothing is killed here and a slow request does not take the
other requests of its worker down with it: the watchdog only watches (see docs/operations.md).
"""
from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

log = logging.getLogger("hatchway.error")


class _Entry:
    __slots__ = ("start", "tid", "label", "logged", "hard")

    def __init__(self, start: float, tid: int, label: str) -> None:
        self.start = start
        self.tid = tid
        self.label = label
        self.logged = False
        self.hard = False


class Watchdog:
    def __init__(self, timeout: float, hard_timeout: float = 0.0,
                 on_hard_timeout: Callable[[], object] | None = None) -> None:
        self.timeout = timeout if timeout > 0 else (hard_timeout if hard_timeout > 0 else 0.0)
        self.hard_timeout = hard_timeout
        self.on_hard_timeout = on_hard_timeout
        self.entries: dict[int, _Entry] = {}
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Check often enough that a stuck request is reported within ~10% of its timeout.
        self.interval = max(0.05, min(1.0, self.timeout / 10)) if self.timeout else 1.0

    @property
    def stuck(self) -> int:
        """Requests past the hard timeout that are still running: the drain need not wait for them."""
        return sum(1 for e in list(self.entries.values()) if e.hard)

    def enter(self, label: str = "") -> int:
        token = next(self._ids)  # itertools.count is atomic under the GIL
        self.entries[token] = _Entry(time.monotonic(), threading.get_ident(), label)
        return token

    def leave(self, token: int) -> None:
        entry = self.entries.pop(token, None)
        if entry is not None and entry.logged:
            log.warning("request %s finished after %.1fs", entry.label, time.monotonic() - entry.start)

    def start(self) -> None:
        if self._thread is None and self.timeout:
            self._thread = threading.Thread(target=self._run, name="hatchway-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check(time.monotonic())
            except Exception:  # the watchdog must outlive anything it finds
                log.exception("watchdog check failed")

    def check(self, now: float) -> None:
        frames = None
        for entry in list(self.entries.values()):
            age = now - entry.start
            if not entry.logged and age >= self.timeout:
                entry.logged = True
                if frames is None:
                    frames = sys._current_frames()
                frame = frames.get(entry.tid)
                stack = "".join(traceback.format_stack(frame)) if frame is not None else "  (thread gone)\n"
                log.error("request %s has been running for %.1fs (timeout %.1fs); its stack:\n%s",
                          entry.label, age, self.timeout, stack.rstrip("\n"))
            if self.hard_timeout and not entry.hard and age >= self.hard_timeout:
                entry.hard = True
                log.error("request %s passed the hard timeout (%.1fs): recycling this worker once its "
                          "other requests are done", entry.label, self.hard_timeout)
                if self.on_hard_timeout is not None:
                    self.on_hard_timeout()
