"""Dropping root after the sockets are bound: --user / --group."""
from __future__ import annotations

import grp
import os
import pwd


class PrivilegeError(Exception):
    """The user or group is unknown, or the switch was refused; one line."""


def resolve(user: str | None, group: str | None) -> tuple[int | None, int | None]:
    uid = gid = None
    if user:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
            if not user.isdigit():
                raise PrivilegeError(f"unknown user {user!r}") from None
            entry = None
        uid = int(user) if entry is None else entry.pw_uid
        if group is None and entry is not None:
            gid = entry.pw_gid
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            raise PrivilegeError(f"unknown group {group!r}") from None
    return uid, gid


def drop(uid: int | None, gid: int | None) -> None:
    """Switch group first (it needs root), then user; no-op for what is already ours."""
    try:
        if gid is not None and gid != os.getegid():
            os.setgroups([gid]) if os.geteuid() == 0 else None
            os.setgid(gid)
        if uid is not None and uid != os.geteuid():
            if os.geteuid() == 0 and gid is None:
                os.setgroups([pwd.getpwuid(uid).pw_gid])
            os.setuid(uid)
    except (OSError, KeyError) as exc:
        raise PrivilegeError(f"cannot switch to uid={uid} gid={gid}: {exc}") from None
