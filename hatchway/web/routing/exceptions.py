"""The errors routing raises while the table is built or a URL is built.

Matching itself answers with the HTTP exceptions of ``hatchway.web.exceptions``
(NotFound, MethodNotAllowed, RequestRedirect), which views and error handlers
already know.
"""

__all__ = ["RoutingConflict", "BuildError"]


class RoutingConflict(ValueError):
    """Two rules would match the same requests; raised when adding the second."""


class BuildError(LookupError):
    """``url_for`` could not build a URL for an endpoint with the given values."""
