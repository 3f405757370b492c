"""The prefork supervisor (arbiter): holds the listeners, forks workers, keeps them alive.

The main loop, and nothing else, does the work:

    while running:  wait()  ->  handle_signals()  ->  read_status()  ->  reap()  ->  manage_workers()

Workers are forked from this process, which never imports the application: each worker imports
it afresh, so a reload (SIGHUP) is just "start a new generation, retire the old one once the new one
is ready".  A generation that fails to import is abandoned and the old workers keep serving.

Workers report over a pipe (see lifecycle.py): ready, a heartbeat about once a second, "replace me"
(max-requests, hard timeout) and boot failure.  A worker whose heartbeat stops for
`heartbeat_timeout` gets SIGABRT (faulthandler prints every thread's stack) and then SIGKILL.

Recycling (max-requests, hard timeout, SIGTTOU, reload) always starts the replacement first and
retires the old worker only when the replacement is ready.  With the default shared listening
socket, a retiring worker just stops accepting: connections waiting in the accept queue stay there
for the others, so none is lost.  With --reuse-port each worker has its own socket, whose queue the
kernel discards when it closes; a retiring worker therefore accepts everything queued and closes
the socket in the same loop step, which leaves only the gap between those two system calls.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .listeners import Listener, bind_tcp
from .signals import SignalQueue
from . import systemd
from .lifecycle import FAILED, HARD_TIMEOUT, READY, RECYCLE, StatusChannel, die_with_parent
from .metrics import METRICS

if TYPE_CHECKING:
    import ssl

    from .metrics import MetricsEndpoint, Registry
    from .pidfile import PidFile
    from .reloader import Reloader

log = logging.getLogger("hatchway.error")

EXIT_BOOT = 3           # a worker's exit code when the application failed to load
KILL_GRACE = 5.0        # beyond the graceful timeout before SIGKILL
ABORT_GRACE = 2.0       # after SIGABRT (stack dump) before SIGKILL
MAX_BACKOFF = 10.0
BOOT_TIMEOUT = 60.0     # a worker that is not ready by then is killed


class BootError(Exception):
    """The first generation could not load the application; the message is one line."""


class Child:
    __slots__ = ("pid", "fd", "gen", "born", "ready", "last_seen", "retiring", "kill_at", "aborted",
                 "buf", "failure", "replaces", "replaced_by", "recycle", "sockets")

    def __init__(self, pid: int, fd: int, gen: int, now: float, replaces: Child | None = None,
                 sockets: Sequence[Listener] = ()) -> None:
        self.pid = pid
        self.fd: int | None = fd       # the status pipe's read end; None once it is closed
        self.gen = gen
        self.born = now
        self.ready = False
        self.last_seen = now
        self.retiring = False
        self.kill_at: float | None = None
        self.aborted = False           # killed for a missed heartbeat or boot timeout (counted as "heartbeat")
        self.buf = b""
        self.failure: str | None = None
        self.replaces = replaces       # the worker this one will stand in for once ready
        self.replaced_by: Child | None = None
        self.recycle: str | None = None  # why this worker asked to be replaced
        self.sockets = sockets         # its own SO_REUSEPORT listeners, if any


class Supervisor:
    def __init__(self, listeners: Iterable[Listener], child_main: Callable[[list[Listener], StatusChannel], int], *,
                 workers: int, graceful_timeout: float, drain_delay: float = 0.0, heartbeat_timeout: float = 30.0,
                 reuse_port: Iterable[tuple[str, int]] = (), backlog: int = 2048,
                 ssl_context: ssl.SSLContext | None = None, pidfile: PidFile | None = None,
                 reloader: Reloader | None = None, reopen_logs: Callable[[], object] | None = None,
                 metrics_socket: socket.socket | None = None) -> None:
        """`listeners`: shared, bound in this process (or inherited).  `reuse_port`: (host, port)
        pairs each worker gets its own SO_REUSEPORT socket for.  `child_main(listeners, status)`
        runs in each forked worker and returns its exit code."""
        self.listeners = list(listeners)
        self.child_main = child_main
        self.num_workers = max(1, workers)
        self.graceful_timeout = graceful_timeout
        self.drain_delay = drain_delay
        self.heartbeat_timeout = heartbeat_timeout
        self.backlog = backlog
        self.ssl_context = ssl_context
        self.pidfile = pidfile
        self.reloader = reloader
        self.reopen_logs = reopen_logs
        self.signals = SignalQueue()
        self.metrics: Registry | None = None  # Registry + MetricsEndpoint when --metrics-bind is given
        self.endpoint: MetricsEndpoint | None = None
        if metrics_socket is not None:
            from .metrics import MetricsEndpoint, Registry

            self.metrics = Registry()
            self.endpoint = MetricsEndpoint(metrics_socket, self._render_metrics)
        self.children: dict[int, Child] = {}
        self.gen = 0
        self.good_gen: int | None = None  # the newest generation that became fully ready
        self.started = False
        self.stopping: str | None = None  # None, "graceful" or "fast"
        self.stop_deadline: float | None = None
        self.boot_failures = 0
        self.next_spawn_at = 0.0
        self.exit_code = 0
        self.fatal: str | None = None
        self._reserved: list[socket.socket] = []            # bound, not listening: holds each --reuse-port port for us
        # (host, actual port) of each --reuse-port address: every worker binds its own listening socket there.
        self.reuse_port_addresses: list[tuple[str, int]] = []
        for host, port in reuse_port:
            # Bound but never listening: it reserves the port (and fixes port 0) without taking
            # connections; each worker gets a listening socket of its own on the same port.
            sock = _reserve(host, port)
            actual = sock.getsockname()[1]
            self.reuse_port_addresses.append((host, actual))
            self._reserved.append(sock)
        if self.reuse_port_addresses and not migrates_requests():
            log.warning("--reuse-port: net.ipv4.tcp_migrate_req is 0, so a connection that reaches a retiring "
                        "worker's socket between its last accept and its close is reset; set it to 1 for "
                        "loss-free recycling (docs/operations.md)")

    @property
    def addresses(self) -> list[Any]:
        return [listener.address for listener in self.listeners] + self.reuse_port_addresses

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> int:
        self.signals.install()
        if self.pidfile is not None:
            self.pidfile.write()
        if self.reloader is not None:
            self.reloader.start(lambda: self.signals.push(signal.SIGHUP))
        log.info("supervisor %d starting %d worker(s)", os.getpid(), self.num_workers)
        try:
            while True:
                self.wait(0.25)
                self.handle_signals()
                self.read_status()
                self.reap()
                self.enforce_deadlines(time.monotonic())
                if self.stopping:
                    if not self.children:
                        break
                    continue
                if self.fatal:
                    self.stop("fast")
                    continue
                self.manage_workers()
        finally:
            self.cleanup()
        if self.fatal:
            raise BootError(self.fatal)
        return self.exit_code

    def wait(self, timeout: float) -> None:
        fds = [self.signals.wake_r] + [c.fd for c in self.children.values() if c.fd is not None]
        if self.endpoint is not None:
            fds.append(self.endpoint.fd)
        if self.signals.queue:
            timeout = 0
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
            if self.endpoint is not None and self.endpoint.fd in ready:
                self.read_status()  # the freshest counts before answering
                self.endpoint.handle()
        except InterruptedError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
        self.signals.drain_pipe()

    def handle_signals(self) -> None:
        while True:
            sig = self.signals.pop()
            if sig is None:
                return
            if sig == signal.SIGCHLD:
                continue  # reap() runs every turn
            if sig == signal.SIGTERM:
                log.info("SIGTERM: draining (drain delay %.1fs, graceful timeout %.1fs)",
                         self.drain_delay, self.graceful_timeout)
                self.stop("graceful")
            elif sig in (signal.SIGINT, signal.SIGQUIT):
                log.info("%s: stopping now", signal.Signals(sig).name)
                self.stop("fast")
            elif self.stopping:
                continue
            elif sig == signal.SIGHUP:
                self.reload()
            elif sig == signal.SIGTTIN:
                self.num_workers += 1
                log.info("SIGTTIN: now %d worker(s)", self.num_workers)
            elif sig == signal.SIGTTOU:
                if self.num_workers > 1:
                    self.num_workers -= 1
                log.info("SIGTTOU: now %d worker(s)", self.num_workers)
            elif sig == signal.SIGUSR1:
                log.info("SIGUSR1: reopening log files")
                if self.reopen_logs is not None:
                    self.reopen_logs()
                self.kill_all(signal.SIGUSR1)

    def read_status(self) -> None:
        now = time.monotonic()
        for child in list(self.children.values()):
            if child.fd is None:
                continue
            try:
                data = os.read(child.fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                os.close(child.fd)  # the worker exited; reap() will hear of it
                child.fd = None
                continue
            child.last_seen = now
            self._parse(child, child.buf + data, now)

    def _parse(self, child: Child, data: bytes, now: float) -> None:
        i = 0
        while i < len(data):
            b = data[i:i + 1]
            if b == FAILED:
                end = data.find(b"\n", i)
                if end < 0:
                    child.buf = data[i:]
                    return
                child.failure = data[i + 1:end].decode("utf-8", "replace")
                i = end + 1
                continue
            if b == METRICS:
                end = data.find(b"\n", i)
                if end < 0:
                    child.buf = data[i:]
                    return
                if self.metrics is not None:
                    self.metrics.update(child.pid, data[i + 1:end])
                i = end + 1
                continue
            if b == READY and not child.ready:
                self.on_ready(child, now)
            elif b in (RECYCLE, HARD_TIMEOUT) and child.recycle is None and not child.retiring:
                child.recycle = "max-requests" if b == RECYCLE else "hard timeout"
            i += 1
        child.buf = b""

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            if child.fd is not None:
                try:
                    data = os.read(child.fd, 65536)  # a boot failure line may still be unread
                    if data:
                        self._parse(child, child.buf + data, time.monotonic())
                except OSError:
                    pass
                os.close(child.fd)
                child.fd = None
            self.on_exit(child, _describe(status), os.waitstatus_to_exitcode(status))

    # -- events ---------------------------------------------------------------------------------------
    def on_ready(self, child: Child, now: float) -> None:
        child.ready = True
        self.boot_failures = 0
        log.info("worker %d ready (generation %d)", child.pid, child.gen)
        old = child.replaces
        if old is not None and old.pid in self.children and not old.retiring:
            log.info("retiring worker %d (%s): %d replaces it", old.pid, old.recycle or "replaced", child.pid)
            self.retire(old, now)
        child.replaces = None
        if self.good_gen is not None and child.gen < self.good_gen:
            # A straggler of a generation already superseded (it was still booting): retire it too.
            log.info("retiring worker %d: generation %d already replaced it", child.pid, child.gen)
            self.retire(child, now)
            return
        ready = [c for c in self.children.values() if c.gen == self.gen and c.ready and not c.retiring]
        if len(ready) >= self.num_workers and self.good_gen != self.gen:
            previous = self.good_gen
            self.good_gen = self.gen
            if previous is None:
                self.started = True
                systemd.notify(f"READY=1\nMAINPID={os.getpid()}")
                log.info("ready: %d worker(s) serving", len(ready))
            else:
                log.info("reload complete: generation %d serving; retiring generation %d", self.gen, previous)
                systemd.notify("READY=1")
            # Every older generation goes, also one that was still booting when a SIGHUP came
            # during start-up (it never became the serving generation, but it may serve now).
            for c in list(self.children.values()):
                if c.gen < self.gen and not c.retiring:
                    self.retire(c, now)

    def _render_metrics(self) -> str:
        assert self.metrics is not None  # the endpoint exists only with the registry
        return self.metrics.render(len(self.children))

    def _count_restart(self, child: Child, code: int) -> None:
        """hatchway_worker_restarts_total{reason}: why a worker had to be replaced."""
        assert self.metrics is not None
        self.metrics.retire(child.pid)
        if self.stopping:
            return
        if child.retiring:
            reason = (child.recycle or "").replace(" ", "-") or ("reload" if child.gen < self.gen else None)
        elif child.aborted:
            reason = "heartbeat"
        elif child.failure is not None or code == EXIT_BOOT or not child.ready:
            reason = "boot-failure"
        else:
            reason = "died"
        if reason is not None:  # None: scaled down (SIGTTOU), not replaced
            self.metrics.restarted(reason)

    def on_exit(self, child: Child, how: str, code: int) -> None:
        now = time.monotonic()
        if self.metrics is not None:
            self._count_restart(child, code)
        for c in self.children.values():
            if c.replaces is child:
                c.replaces = None
        if child.replaced_by is not None:
            child.replaced_by.replaces = None
        if child.replaces is not None:
            child.replaces.replaced_by = None  # the replacement died: its old worker needs another
        if child.retiring or self.stopping:
            log.info("worker %d exited (%s)", child.pid, how)
            return
        if child.failure is not None or code == EXIT_BOOT:
            reason = child.failure or "the application failed to load"
            if not self.started:
                # Never ready yet (also after a SIGHUP during start-up): nothing good to keep serving.
                self.fatal = reason
                return
            if child.gen != self.good_gen and child.gen == self.gen and self.good_gen is not None:
                log.error("reload failed, the old workers keep serving: %s", reason)
                self.abandon_generation()
                return
            log.error("worker %d failed to boot: %s", child.pid, reason)
            self._backoff(now)
            return
        if not child.ready:
            log.error("worker %d died while booting (%s)", child.pid, how)
            self._backoff(now)
            return
        log.error("worker %d died (%s); replacing it", child.pid, how)

    def _backoff(self, now: float) -> None:
        self.boot_failures += 1
        delay = min(MAX_BACKOFF, 0.1 * 2 ** (self.boot_failures - 1))
        self.next_spawn_at = now + delay
        log.info("next worker start in %.1fs (%d boot failure(s) in a row)", delay, self.boot_failures)

    # -- actions --------------------------------------------------------------------------------------
    def manage_workers(self) -> None:
        now = time.monotonic()
        self.check_liveness(now)
        current = [c for c in self.children.values() if c.gen == self.gen and not c.retiring]
        # A worker that asked to be replaced gets a replacement; it counts as that worker.
        for child in current:
            if child.recycle and child.replaced_by is None and child.ready and now >= self.next_spawn_at:
                log.info("worker %d asked to be replaced (%s)", child.pid, child.recycle)
                new = self.spawn(replaces=child)
                if new is None:
                    return
        current = [c for c in self.children.values() if c.gen == self.gen and not c.retiring]
        active = [c for c in current if c.replaced_by is None]
        missing = self.num_workers - len(active)
        while missing > 0 and now >= self.next_spawn_at:
            if self.spawn() is None:
                return
            missing -= 1
        if missing < 0:
            # SIGTTOU: retire the surplus, the booting and then the oldest first.
            surplus = sorted(active, key=lambda c: (c.ready, c.born))[:-missing]
            for child in surplus:
                self.retire(child, now)

    def check_liveness(self, now: float) -> None:
        for child in list(self.children.values()):
            if child.kill_at is not None:
                continue
            if child.ready:
                silent = now - child.last_seen
                if silent > self.heartbeat_timeout:
                    log.error("worker %d sent no heartbeat for %.1fs: its loop is stuck; dumping its "
                              "stack (SIGABRT) and replacing it", child.pid, silent)
                    self.abort(child, now)
            elif now - child.born > max(BOOT_TIMEOUT, self.heartbeat_timeout):
                log.error("worker %d not ready after %.0fs; killing it", child.pid, now - child.born)
                self.abort(child, now)

    def abort(self, child: Child, now: float) -> None:
        child.aborted = True  # replaced like a dead one once it is reaped
        child.kill_at = now + ABORT_GRACE
        _kill(child.pid, signal.SIGABRT)

    def spawn(self, replaces: Child | None = None) -> Child:
        sockets = self._worker_sockets()
        r, w = os.pipe()
        parent = os.getpid()
        queued = len(self.signals.queue)
        pid = os.fork()
        if pid == 0:  # ---- the worker
            code = 1
            try:
                self._become_child(queued)  # first: from here on a forwarded signal is deferred, not fatal
                die_with_parent(parent)
                os.close(r)
                code = self.child_main(self.listeners + sockets, StatusChannel(w, parent))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                log.exception("worker crashed")
            finally:
                logging.shutdown()
                sys.stdout.flush() if sys.stdout else None
                os._exit(code or 0)
        os.close(w)
        os.set_blocking(r, False)
        for listener in sockets:
            listener.sock.close()  # the worker owns it now; ours would keep its queue alive for nobody
        child = Child(pid, r, self.gen, time.monotonic(), replaces, sockets)
        if replaces is not None:
            replaces.replaced_by = child
        self.children[pid] = child
        log.info("started worker %d (generation %d)", pid, self.gen)
        return child

    def _worker_sockets(self) -> list[Listener]:
        out = []
        for host, port in self.reuse_port_addresses:
            sock = bind_tcp(host, port, self.backlog, reuse_port=True)
            out.append(Listener(sock, "tcp", self.ssl_context))
        return out

    def _become_child(self, queued: int = 0) -> None:
        self.signals.reset_in_child(queued)
        for child in self.children.values():
            if child.fd is not None:
                os.close(child.fd)
        for sock in self._reserved:
            try:
                sock.close()
            except OSError:
                pass
        for listener in self.listeners:
            listener.unlink_path = None  # the socket file is the supervisor's to remove
        if self.reloader is not None:
            self.reloader.forget()
        if self.endpoint is not None:
            self.endpoint.close()  # the supervisor's port: a worker must not keep it open
            self.endpoint = self.metrics = None
        self.children = {}

    def retire(self, child: Child, now: float) -> None:
        if child.retiring:
            return
        child.retiring = True
        child.kill_at = now + self.graceful_timeout + KILL_GRACE
        _kill(child.pid, signal.SIGHUP)

    def reload(self) -> None:
        self.gen += 1
        log.info("SIGHUP: reloading: starting generation %d", self.gen)
        systemd.notify("RELOADING=1")
        self.boot_failures = 0
        self.next_spawn_at = 0.0

    def abandon_generation(self) -> None:
        now = time.monotonic()
        assert self.good_gen is not None  # only a reload abandons a generation, after one was good
        for child in list(self.children.values()):
            if child.gen > self.good_gen:
                self.retire(child, now)
                _kill(child.pid, signal.SIGKILL)
        self.gen = self.good_gen
        systemd.notify("READY=1")

    def stop(self, how: str) -> None:
        if self.stopping == "fast" or self.stopping == how:
            return
        now = time.monotonic()
        self.stopping = how
        systemd.notify("STOPPING=1")
        if self.reloader is not None:
            self.reloader.stop()
        # Our copies of the listeners go now: the workers hold theirs, accept through the drain
        # delay, then take their backlog and close, so the port refuses once the last one is done.
        for listener in self.listeners:
            try:
                listener.sock.close()
            except OSError:
                pass
        for sock in self._reserved:
            sock.close()
        if how == "graceful":
            self.stop_deadline = now + self.drain_delay + self.graceful_timeout + KILL_GRACE
            self.kill_all(signal.SIGTERM)
        else:
            self.stop_deadline = now + KILL_GRACE
            self.kill_all(signal.SIGQUIT)

    def enforce_deadlines(self, now: float) -> None:
        for child in list(self.children.values()):
            late = child.kill_at is not None and now >= child.kill_at
            if late or (self.stop_deadline is not None and now >= self.stop_deadline):
                if child.kill_at != -1:
                    log.warning("worker %d did not exit in time; killing it", child.pid)
                    child.kill_at = -1
                    _kill(child.pid, signal.SIGKILL)

    def kill_all(self, sig: int) -> None:
        for pid in list(self.children):
            _kill(pid, sig)

    def cleanup(self) -> None:
        for child in self.children.values():
            _kill(child.pid, signal.SIGKILL)
        for child in self.children.values():
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
        for listener in self.listeners:
            listener.close()  # also removes unix socket files
        for sock in self._reserved:
            sock.close()
        if self.endpoint is not None:
            self.endpoint.close()
        if self.reloader is not None:
            self.reloader.stop()
        if self.pidfile is not None:
            self.pidfile.remove()
        self.signals.close()
        log.info("supervisor stopped")


def migrates_requests() -> bool:
    """Linux 5.14+: with tcp_migrate_req=1 a closing SO_REUSEPORT listener hands its queue to another."""
    try:
        with open("/proc/sys/net/ipv4/tcp_migrate_req") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _reserve(host: str, port: int) -> socket.socket:
    from .listeners import BindError, describe

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {describe((host, port))}: {exc.strerror or exc}") from None
    return sock


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.WEXITSTATUS(status)}"
