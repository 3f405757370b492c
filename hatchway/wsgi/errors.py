"""Exceptions that cross from the connection into the gateway and the application."""
from ..server.errors import ClientGone

__all__ = ["BodyError", "ClientGone"]


class BodyError(OSError):
    """The request body cannot be delivered: malformed, too large, too slow, or cut short.
    Raised from wsgi.input; the server answers `status` if no response has started."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
