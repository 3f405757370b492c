"""Exceptions that cross from the connection into the gateway and the application."""


class ClientGone(OSError):
    """The peer went away (reset, closed, or stopped reading past write_timeout)."""


class BodyError(OSError):
    """The request body cannot be delivered: malformed, too large, too slow, or cut short.
    Raised from wsgi.input; the server answers `status` if no response has started."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason
