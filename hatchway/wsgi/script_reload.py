"""run_simple(use_reloader=True): re-run the whole script when its sources change.

This is Werkzeug's model (the app object comes from a script, so only a fresh process has fresh
code), made safe for use while clients are connected:

* the parent binds the listening socket once and every generation of the script inherits it, so
  the port never closes and connections arriving during a restart wait in the backlog;
* a new process must report ready (it has imported everything and built its server) before the
  old one is asked to drain (SIGTERM, graceful);
* if the new process dies before it is ready (a broken edit), the last good process keeps serving
  and the error is in the log; the next change tries again.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

log = logging.getLogger("hatchway.error")

ENV_FD = "HATCHWAY_RELOAD_FD"
ENV_READY = "HATCHWAY_RELOAD_READY"
READY_TIMEOUT = 60.0


def child_socket_fd():
    """In a reloaded child: the inherited listening fd, else None."""
    value = os.environ.get(ENV_FD)
    return int(value) if value else None


def report_ready() -> None:
    """In a reloaded child: tell the parent this generation serves (once)."""
    fd = os.environ.pop(ENV_READY, None)
    if fd is not None:
        try:
            os.write(int(fd), b"1")
        finally:
            os.close(int(fd))


def _command() -> list:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        name = spec.name[: -len(".__main__")] if spec.name.endswith(".__main__") else spec.name
        return [sys.executable, "-m", name, *sys.argv[1:]]
    return [sys.executable, *sys.argv]


class _Generation:
    """One run of the script, and the pipe it reports readiness on."""

    def __init__(self, listen_fd: int):
        r, w = os.pipe()
        env = dict(os.environ, **{ENV_FD: str(listen_fd), ENV_READY: str(w)})
        self.proc = subprocess.Popen(_command(), env=env, pass_fds=(listen_fd, w))
        os.close(w)
        self._ready_r = r

    def wait_ready(self, timeout: float) -> bool:
        """True once the process reported ready; False if it exited (or hung) first."""
        import select

        poller = select.poll()
        poller.register(self._ready_r, select.POLLIN)
        ok = bool(poller.poll(timeout * 1000)) and os.read(self._ready_r, 1) == b"1"
        os.close(self._ready_r)
        return ok

    def stop(self, graceful: bool = True, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_with_reloader(listener, extra_files=None) -> int:
    """The parent: hold `listener`, keep one good generation of the script serving, swap on change."""
    from ..server.reloader import Reloader, ReloaderUnavailable

    paths = [os.getcwd()] + sorted({os.path.dirname(os.path.abspath(f)) for f in (extra_files or ())})
    try:
        reloader = Reloader(paths)
    except ReloaderUnavailable as exc:
        print(f"hatchway: error: {exc}", file=sys.stderr)
        return 2
    fd = listener.sock.fileno()
    os.set_inheritable(fd, True)
    changed = threading.Event()
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()
        changed.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    if not logging.getLogger("hatchway").handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(" * %(message)s"))
        logging.getLogger("hatchway").addHandler(handler)
        logging.getLogger("hatchway").setLevel(logging.INFO)
    # Watch before the first start: an edit made while the script boots must not be missed.
    reloader.start(changed.set)
    current = _Generation(fd)
    if not current.wait_ready(READY_TIMEOUT):
        current.stop(graceful=False)
        reloader.stop()
        print("hatchway: error: the application did not start; see the error above", file=sys.stderr)
        return 2
    try:
        while not stopping.is_set():
            changed.wait(0.5)
            if stopping.is_set():
                break
            if current.proc.poll() is not None:
                log.error("the serving process exited with %s; starting it again", current.proc.returncode)
                changed.set()
            if not changed.is_set():
                continue
            changed.clear()
            candidate = _Generation(fd)
            if candidate.wait_ready(READY_TIMEOUT):
                old, current = current, candidate
                old.stop(graceful=True)
                log.info("reloaded: the new code is serving")
            else:
                candidate.stop(graceful=False)
                log.error("reload failed (see the error above); the last good code keeps serving")
    finally:
        reloader.stop()
        current.stop(graceful=True)
        listener.close()
    return 0
