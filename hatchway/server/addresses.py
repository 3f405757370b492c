"""How a peer's address is written in log lines: one spelling for every module that logs a peer."""
from __future__ import annotations

from typing import Any


def format_peer(addr: Any) -> str:
    """`1.2.3.4:5678`, `[::1]:5678` for IPv6 (so the port cannot be read as part of the address),
    `unix peer` for a Unix socket (its peer address is empty or a path, never useful)."""
    if isinstance(addr, tuple) and len(addr) >= 2 and addr[0]:
        host = addr[0]
        return f"[{host}]:{addr[1]}" if ":" in str(host) else f"{host}:{addr[1]}"
    return "unix peer"
