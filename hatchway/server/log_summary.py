"""Log lines for events that come in floods: evictions at the connection limit, failed TLS
handshakes, plaintext requests on a TLS port.

One line per event made 10,000 idle connections write 5,905 lines, which buries the lines that
matter and costs the loop a formatted write per event.  Here the first event of a kind in a
window is logged in full (so the operator sees a real example), the rest are only counted, and
when the window is over one line per kind says how many more there were:

    connection limit (4096) reached: closing the longest-idle connection
    ... 5904 more: connection limit reached, longest-idle connection closed (in the last 1.0s)

The loop calls `flush(now)` on its tick; nothing here takes a lock (one thread runs the loop).
"""
from __future__ import annotations

import logging
from typing import Any

WINDOW = 1.0


class LogSummary:
    __slots__ = ("log", "window", "_counts", "_levels", "_since")

    def __init__(self, log: logging.Logger, window: float = WINDOW) -> None:
        self.log = log
        self.window = window
        self._counts: dict[str, int] = {}  # kind -> events after the first in this window
        self._levels: dict[str, int] = {}
        self._since = 0.0                  # when the window opened (valid while _counts is not empty)

    def note(self, now: float, level: int, kind: str, msg: str, *args: Any) -> None:
        """An event of `kind` (the summary's wording): logged as `msg % args` if it is the
        first of its kind in the window, else counted."""
        counts = self._counts
        n = counts.get(kind)
        if n is not None:
            counts[kind] = n + 1
            return
        if not counts:
            self._since = now
        counts[kind] = 0
        self._levels[kind] = level
        self.log.log(level, msg, *args)

    def flush(self, now: float, force: bool = False) -> None:
        """At the end of the window (or with `force`, when stopping): one line per kind that had
        more than its first event, then a new window."""
        counts = self._counts
        if not counts or (now - self._since < self.window and not force):
            return
        span = max(now - self._since, 0.0)
        for kind, n in counts.items():
            if n:
                self.log.log(self._levels[kind], "... %d more: %s (in the last %.1fs)", n, kind, span)
        counts.clear()
        self._levels.clear()
