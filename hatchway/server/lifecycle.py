"""One serving process's life: signals, readiness, drain delay, liveness, recycling.

Used both by a lone `hatchway serve` process and by each worker a supervisor forks.  Signal
handlers only enqueue; the worker loop's tick does the work, on the loop thread.

Worker -> supervisor status messages (one byte each, on a pipe; a write of a byte is atomic):
    R  ready: the loop is running          .  heartbeat, about once a second
    M  max-requests reached: replace me    H  a request passed --hard-timeout: replace me
    F<one line>\\n  the application failed to load
"""
from __future__ import annotations

import logging
import os
import random
import signal
from collections import deque
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .metrics import WorkerMetrics
from .watchdog import Watchdog

if TYPE_CHECKING:
    from .config import ServerConfig

log = logging.getLogger("hatchway.error")

READY, HEARTBEAT, RECYCLE, HARD_TIMEOUT, FAILED = b"R", b".", b"M", b"H", b"F"
HEARTBEAT_EVERY = 1.0


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None) -> None:
    """In a worker: get SIGTERM (a graceful drain) when the supervisor `parent` dies.

    Called right after the fork and again after dropping privileges (a credential change clears
    the setting).  If the supervisor already died before the setting took effect, act now."""
    if not parent:
        return
    try:
        import ctypes  # supervised workers only: ~0.5 MiB of RSS a standalone server does not need

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the loop's tick still notices a changed parent (Lifecycle.on_tick)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


class StatusChannel:
    """The write end of a worker's status pipe; None-safe so a lone process can use it too.
    `parent` is the supervisor's pid (None for a lone process)."""

    def __init__(self, fd: int | None, parent: int | None = None) -> None:
        self.fd = fd
        self.parent = parent
        if fd is not None:
            os.set_blocking(fd, False)

    def send(self, message: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, message)
        except BlockingIOError:
            pass  # the supervisor is behind on reading heartbeats; a later one will do
        except OSError:
            self.fd = None  # the supervisor is gone

    def fail(self, line: str) -> None:
        self.send(FAILED + line.replace("\n", " ").encode("utf-8", "replace")[:4000] + b"\n")


class ServingState:
    """What the WSGI ops layers read: readiness, the request count, the watchdog."""

    def __init__(self) -> None:
        self.ready = True
        self.requests = 0
        self.watchdog: Watchdog | None = None
        self.metrics: WorkerMetrics | None = None  # when the supervisor serves /metrics


class Lifecycle:
    # The worker (hatchway.server.worker.Worker) is Any here: this module drives its on_tick, conns, now,
    # draining and request_stop, and must not import the loop that imports the ops layers.
    worker: Any

    def __init__(self, config: ServerConfig, status: StatusChannel | None = None, supervised: bool = False,
                 reopen_logs: Callable[[], object] | None = None) -> None:
        self.config = config
        self.status = status or StatusChannel(None)
        self.supervised = supervised
        self.reopen_logs = reopen_logs
        self.state = ServingState()
        self.worker = None
        self.signals: deque[int] = deque()
        self.drain_at: float | None = None
        self.announced = False
        self.last_beat = 0.0
        self.recycle_asked = False
        self.orphaned = False
        self.max_requests = 0
        if config.max_requests:
            self.max_requests = config.max_requests + random.randint(0, max(0, config.max_requests_jitter))
        if config.metrics and supervised:
            self.state.metrics = WorkerMetrics()
        if config.request_timeout or config.hard_timeout:
            self.state.watchdog = Watchdog(config.request_timeout, config.hard_timeout,
                                           self._hard_timeout if supervised else None)

    # -- set-up ---------------------------------------------------------------------------------
    def attach(self, worker: Any) -> None:
        self.worker = worker
        worker.on_tick = self.on_tick
        # Refuse new connections as soon as accepting stops, rather than queue them for nobody.
        worker.close_listeners_on_stop = True

    def install_signals(self) -> None:
        from .signals import take_deferred

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, self._enqueue)
        for sig in (signal.SIGTTIN, signal.SIGTTOU):
            signal.signal(sig, signal.SIG_IGN)
        for signum in take_deferred():  # what arrived while this worker was still loading the app
            self._enqueue(signum, None)

    def _enqueue(self, signum: int, frame: FrameType | None) -> None:
        self.signals.append(signum)
        self.worker.call_soon(self._handle_signals)

    def run(self, server: Any) -> None:
        """Serve until stopped; `server` has `.worker`, `serve_forever()` and `server_close()`."""
        if self.worker is None:
            self.attach(server.worker)
        if self.state.watchdog is not None:
            self.state.watchdog.start()
        try:
            server.serve_forever()
        finally:
            if self.state.watchdog is not None:
                self.state.watchdog.stop()
            server.server_close()

    # -- on the loop thread -------------------------------------------------------------------
    def on_tick(self, now: float) -> None:
        if not self.announced:
            self.announced = True
            self.status.send(READY)
        if now - self.last_beat >= HEARTBEAT_EVERY:
            self.last_beat = now
            self.status.send(HEARTBEAT)
            if self.state.metrics is not None:
                # Once a second: a worker that dies loses at most this much of its counts.
                self.status.send(self.state.metrics.snapshot(self.worker.conns))
            parent = self.status.parent
            if parent and not self.orphaned and os.getppid() != parent:
                # Backstop for PR_SET_PDEATHSIG: nobody would replace or stop us; drain and exit.
                self.orphaned = True
                log.warning("supervisor %d is gone: draining", parent)
                self.signals.append(signal.SIGTERM)
        if self.signals:
            self._handle_signals()
        if self.drain_at is not None and now >= self.drain_at:
            self.drain_at = None
            log.info("drain delay over: no longer accepting; finishing %d connection(s)", len(self.worker.conns))
            self.worker.request_stop(graceful=True)
        if self.max_requests and not self.recycle_asked and self.state.requests >= self.max_requests:
            self.recycle_asked = True
            log.info("served %d requests (max-requests): asking to be replaced", self.state.requests)
            self.status.send(RECYCLE)
        if self.state.watchdog is not None:
            self.worker.abandoned = self.state.watchdog.stuck

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.popleft()
            if signum == signal.SIGTERM:
                self.begin_drain(self.config.drain_delay)
            elif signum == signal.SIGHUP:
                if self.supervised:
                    self.begin_drain(0.0)  # retiring after a reload: the new workers already serve
                else:
                    log.warning("SIGHUP ignored: reloading needs the supervisor (--workers N or --reload)")
            elif signum in (signal.SIGINT, signal.SIGQUIT):
                self.state.ready = False
                self.worker.request_stop(graceful=False)
            elif signum == signal.SIGUSR1 and self.reopen_logs is not None:
                self.reopen_logs()

    def begin_drain(self, delay: float) -> None:
        self.state.ready = False
        if self.worker.draining or self.drain_at is not None:
            return
        if delay > 0:
            log.info("draining: readiness now answers 503; accepting stops in %.1fs", delay)
            self.drain_at = self.worker.now + delay
        else:
            self.worker.request_stop(graceful=True)

    # -- from the watchdog thread ---------------------------------------------------------------
    def _hard_timeout(self) -> None:
        # Written from the watchdog thread: with the app inline the loop itself may be the one stuck.
        self.status.send(HARD_TIMEOUT)
