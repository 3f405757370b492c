"""The stall hand-off: the app runs inline on the loop thread, and a request that stalls gives the
loop away instead of holding it.

* The loop thread claims each exchange it runs inline (`claim`, a one-item list: appending and
  popping are atomic under the GIL, so the loop and the monitor never need a lock per request).
* A monitor thread wakes every `interval` while requests run.  When it finds the same exchange
  claimed on two wakes in a row, the loop has been inside one request for at least `interval`:
  it *steals* the claim, takes the connection out of epoll, and promotes a standby thread to run
  the loop.  The stalled thread finishes its response with blocking I/O, like a pool thread, gives
  the connection back to the loop, and becomes a standby.
* The monitor's second job: output an inline exchange defers (coalescing a streamed body,
  `OutputBuffer.defer`) is sent on every wake, without blocking (`flush_deferred`), so no block waits
  for the app's next one longer than about `interval` (PEP 3333).
* The loop thread steals its own claim when it is about to block (a full socket under `write()`,
  a body read that must wait): blocking is only ever done off the loop.
* `size` threads may be in the app at once; there are `size + 1`, the loop's included (the
  serve_forever caller only waits: a stuck request can never hold it past a stop).  The loop
  runs an app inline only while a standby is idle to relieve it; with none idle, requests queue
  (`submit`) and are served by threads as they come back, in order, so the loop itself never
  stops accepting.

Exactly one thread owns a connection at a time: the loop thread while the exchange is claimed; the
thread that ran it, once stolen; the loop again after `resume`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

Task = tuple[Callable[..., Any], tuple[Any, ...]]

log: Final = logging.getLogger("hatchway.error")


class Handoff:
    """The standby threads, the queue of connections waiting for one, and the stall monitor."""

    __slots__ = ("worker", "size", "interval", "claim", "seq", "parked", "idle", "_cond", "_tasks",
                 "_loop_wanted", "_stopping", "_threads", "_monitor_event", "_monitor", "stalls",
                 "out_lock", "deferring")

    def __init__(self, worker: Any, size: int, interval: float = 0.002, name: str = "hatchway") -> None:
        if size < 1:
            raise ValueError("the stall hand-off needs at least one standby thread")
        self.worker = worker
        self.size = size
        self.interval = interval
        self.claim: list[Any] = []   # the exchange the loop runs inline right now (0 or 1 item)
        self.seq = 0            # inline exchanges started: the monitor's notion of "the same one"
        self.parked = False     # the monitor sleeps until the next inline exchange
        self.idle = 0           # standby threads waiting (read without the lock: a hint)
        self.stalls = 0         # exchanges handed off so far
        # Output buffers with deferred output (inline exchanges coalescing a streamed body): the
        # monitor sends it on every wake, under out_lock, which their owners' sends then take too.
        self.out_lock = threading.Lock()
        self.deferring: list[Any] = []
        self._cond = threading.Condition(threading.Lock())
        self._tasks: deque[Task] = deque()
        self._loop_wanted = False
        self._stopping = False
        self._monitor_event = threading.Event()
        self._threads: list[threading.Thread] = []
        # One more thread than may be in the app: whoever runs the loop.
        for i in range(size + 1):
            t = threading.Thread(target=self._standby, name=f"{name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self._monitor = threading.Thread(target=self._watch, name=f"{name}-monitor", daemon=True)
        self._monitor.start()

    # -- pool-shaped surface (serving wraps `submit` for load shedding) ---------------------------
    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue fn(*args) for the next free thread (a connection waiting for one)."""
        with self._cond:
            self._tasks.append((fn, args))
            self._cond.notify()

    @property
    def busy(self) -> int:
        return max(0, self.size - self.idle)

    @property
    def queued(self) -> int:
        return len(self._tasks)

    def start_loop(self) -> None:
        """serve_forever: a standby runs the loop."""
        with self._cond:
            self._loop_wanted = True
            self._cond.notify()

    # -- the loop thread's side ---------------------------------------------------------------
    def wake_monitor(self) -> None:
        self.parked = False
        self._monitor_event.set()

    def enter(self, conn: Any) -> list[Any]:
        """The loop runs app code for conn inline: claim it (one append, atomic under the GIL) and
        return the claim, which the caller pops when the app returns; an IndexError there means
        the monitor stole it and the caller's thread is off the loop."""
        claim = self.claim
        conn.claim = claim
        claim.append(conn)
        self.seq += 1
        if self.parked:
            self.wake_monitor()
        return claim

    def steal(self, claim: list[Any]) -> bool:
        """Take the exchange in `claim` off the loop: its thread keeps it and blocks as it needs,
        a standby runs the loop.  False when its thread already ended the claim (or lost it)."""
        try:
            conn = claim.pop()
        except IndexError:
            return False
        self.claim = []  # the next loop owner's
        self.stalls += 1
        conn.detach()
        self.worker.give_up_loop()
        with self._cond:
            self._loop_wanted = True
            self._cond.notify()
        return True

    # -- threads --------------------------------------------------------------------------------
    def _next(self) -> Task | None:
        """Wait for work: run the loop (first), or serve a queued connection.  None to stop."""
        cond = self._cond
        with cond:
            while True:
                if self._stopping:
                    return None
                if self._loop_wanted:
                    self._loop_wanted = False
                    return self.worker.run_loop, ()
                if self._tasks:
                    return self._tasks.popleft()
                self.idle += 1
                try:
                    cond.wait()
                finally:
                    self.idle -= 1

    def _standby(self) -> None:
        """A standby thread: run the loop or a queued connection, whichever is asked, until stopped."""
        while True:
            job = self._next()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except BaseException:  # a task must never kill its thread
                log.exception("unhandled error in a hatchway thread")

    def _watch(self) -> None:
        """The stall monitor: cheap, and asleep while no request runs inline."""
        interval = self.interval
        sleep = time.sleep
        event = self._monitor_event
        last = -1
        quiet = 0
        while not self._stopping:
            sleep(interval)
            if self.deferring:
                self.flush_deferred()
            claim = self.claim
            seq = self.seq
            if claim:
                quiet = 0
                if seq == last and self.idle > 0 and self.worker.loop_owned():
                    self.steal(claim)
                last = seq
                continue
            if seq != last:
                last = seq
                quiet = 0
                continue
            quiet += 1
            if quiet >= 64 and not self.deferring:  # about 0.1 s with no inline request: sleep until the next
                self.parked = True
                if self.seq == last and not self.claim:
                    event.wait()
                event.clear()
                self.parked = False
                quiet = 0

    def flush_deferred(self) -> None:
        """Keep deferred output moving while its app produces the next block (PEP 3333): never blocks."""
        with self.out_lock:
            deferring = self.deferring
            for out in deferring[:]:
                out.send_deferred()

    def stop(self, timeout: float | None = None) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._monitor_event.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads + [self._monitor]:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
