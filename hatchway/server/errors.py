"""Exceptions of the socket layer.  Not compiled: mypyc cannot subclass builtin exceptions."""


class ClientGone(OSError):
    """The peer went away (reset, closed, or stopped reading past the write timeout)."""
