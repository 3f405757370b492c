"""Processes, ports and files: free ports, probing a listener, a `python -m hatchway` child with its output in
a file, importing an example by its path."""
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_module(path, name):
    """Import the file at `path` (relative to the tree's root) as module `name`, without touching sys.path."""
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing resolve names through sys.modules
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_connect(addr) -> bool:
    family = socket.AF_UNIX if isinstance(addr, str) else (socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    with socket.socket(family) as s:
        s.settimeout(0.5)
        try:
            s.connect(addr)
            return True
        except OSError:
            return False


class Proc:
    """A `hatchway serve` child process with its output captured to a file."""

    def __init__(self, args, cwd=None, env=None, pass_fds=()):
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"hatchway-cli-{os.getpid()}-{time.monotonic_ns()}.log"
        self._out = open(self.log, "wb")
        full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
        self.p = subprocess.Popen([sys.executable, "-m", "hatchway", *args], cwd=cwd or ROOT, env=full_env,
                                  stdout=self._out, stderr=subprocess.STDOUT, pass_fds=pass_fds)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self, sig=15, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._out.close()
        return self.p.returncode
