"""The access log: combined log format plus the request duration, through stdlib logging."""
from __future__ import annotations

import logging
import time

access_log = logging.getLogger("hatchway.access")


def _header(req, name: bytes) -> str:
    for k, v in req.headers:
        if k.lower() == name:
            return v.decode("latin-1").replace('"', '\\"')
    return "-"


def log_access(remote: str, req, status: int, sent: int, duration: float) -> None:
    """`duration` in seconds; logged as `D=<microseconds>` after the combined fields."""
    when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
    line = req.target.decode("latin-1").replace('"', '\\"')
    access_log.info(
        '%s - - [%s] "%s %s HTTP/%s" %d %s "%s" "%s" D=%d',
        remote or "-", when, req.method, line, req.version, status, sent if sent else "-",
        _header(req, b"referer"), _header(req, b"user-agent"), int(duration * 1e6),
    )
