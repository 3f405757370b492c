"""systemd integration: socket activation (LISTEN_FDS/LISTEN_PID) and sd_notify (NOTIFY_SOCKET).

Both are tiny wire protocols, so they are spoken here directly rather than through libsystemd.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping

SD_LISTEN_FDS_START = 3


def listen_fds(environ: MutableMapping[str, str] | None = None, unset: bool = True) -> list[int]:
    """The fds systemd passed us, or [] when none were passed to *this* process.

    The variables are removed afterwards (as sd_listen_fds(1) does) so that children we fork do not
    mistake the fds for their own.
    """
    env = os.environ if environ is None else environ
    try:
        pid = int(env.get("LISTEN_PID", ""))
        count = int(env.get("LISTEN_FDS", ""))
    except ValueError:
        return []
    if unset:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            env.pop(name, None)
    if pid != os.getpid() or count <= 0:
        return []
    fds = list(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))
    for fd in fds:
        os.set_inheritable(fd, True)
    return fds


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1", "STOPPING=1") to the service manager; False if not under one."""
    env = os.environ if environ is None else environ
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path[0] == "@":
        path = "\0" + path[1:]  # abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(path)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True
