"""The parser's events (in the way of h11): what `RequestParser.feed` appends to its queue.

A `Request` when a request head is complete (its `body`, a `body.Body`, fills as the bytes
arrive), or a `Rejection` where the stream breaks a rule; nothing after a Rejection is parsed.
"""
from __future__ import annotations

from typing import Any


class Rejection:
    """An event (not an exception; `policy.Reject` is the exception a rule raises): the request stream
    is broken at this point; answer `status`, then close."""

    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason

    def __repr__(self) -> str:
        return f"<Rejection {self.status} {self.reason!r}>"


class Request:
    """An event: one request head, and the body that follows it."""

    __slots__ = (
        "method", "target", "version", "headers", "keep_alive", "content_length", "chunked",
        "expect_continue", "body", "has_body",
    )
    # Typed: in the compiled build each field is a native slot of its type, read without a lookup.
    method: str
    target: bytes
    version: str
    headers: list[tuple[bytes, bytes]]
    keep_alive: bool
    content_length: int | None
    chunked: bool
    expect_continue: bool
    body: Any  # body.Body (events imports no other module of the package)
    has_body: bool

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target!r} HTTP/{self.version}>"
