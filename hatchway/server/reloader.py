"""Development reload: watch source files and ask the supervisor for a reload on a change.

The watching runs on a thread of the supervisor (which never imports the application); a change
pushes SIGHUP onto the supervisor's signal queue, so an edit reloads exactly as `kill -HUP` does:
new workers with fresh code, and the old ones stay if the new code fails to import.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("hatchway.error")


class ReloaderUnavailable(Exception):
    pass


class Reloader:
    def __init__(self, paths: Iterable[str] | None, extensions: Iterable[str] = (".py",)) -> None:
        try:
            import watchfiles  # noqa: F401  (an optional extra: hatchway[reload])
        except ImportError:
            raise ReloaderUnavailable("--reload needs the watchfiles package: pip install 'hatchway[reload]'") from None
        self.paths = [os.path.abspath(p) for p in (paths or [os.getcwd()])]
        self.extensions = tuple(extensions)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, trigger: Callable[[], object]) -> None:
        self._thread = threading.Thread(target=self._run, args=(trigger,), name="hatchway-reloader", daemon=True)
        self._thread.start()

    def _run(self, trigger: Callable[[], object]) -> None:
        import watchfiles

        exts = self.extensions

        def wanted(change: object, path: str) -> bool:
            return path.endswith(exts) and "__pycache__" not in path

        log.info("watching %s for changes", ", ".join(self.paths))
        try:
            for changes in watchfiles.watch(*self.paths, watch_filter=wanted, stop_event=self._stop,
                                            debounce=200, step=50, raise_interrupt=False):
                names = sorted({os.path.relpath(path) for _, path in changes})
                log.info("changed: %s; reloading", ", ".join(names[:5]) + (" ..." if len(names) > 5 else ""))
                trigger()
        except Exception:
            log.exception("the file watcher failed; --reload is off from now on")

    def forget(self) -> None:
        """In a forked worker: the thread did not come along; nothing to stop."""
        self._thread = None

    def stop(self) -> None:
        self._stop.set()
