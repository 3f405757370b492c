"""The pid file: written atomically, removed on exit only if it still names us."""
from __future__ import annotations

import os


class PidFile:
    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.pid: int | None = None

    def write(self, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        tmp = f"{self.path}.{self.pid}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.pid}\n")
        os.replace(tmp, self.path)  # a reader never sees a half-written file

    def remove(self) -> None:
        try:
            with open(self.path) as f:
                if f.read().strip() != str(self.pid):
                    return  # a newer server took the path over; leave its file alone
            os.unlink(self.path)
        except (OSError, ValueError):
            pass
