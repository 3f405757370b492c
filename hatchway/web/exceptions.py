"""HTTP errors as exceptions.

Raising one of these anywhere below a view ends the request with that status.
How the error is rendered (problem+json or HTML) is decided by
:mod:`hatchway.web.errors`, not here, so these classes stay plain data.
"""

from http import HTTPStatus

__all__ = [
    "HTTPException", "BadRequest", "BadRequestKeyError", "Unauthorized",
    "Forbidden", "NotFound", "MethodNotAllowed", "NotAcceptable",
    "Conflict", "Gone", "RequestEntityTooLarge", "UnsupportedMediaType",
    "UnprocessableEntity", "TooManyRequests", "InternalServerError",
    "NotImplementedHTTP", "ServiceUnavailable", "RequestRedirect",
    "abort", "exception_for",
]


class HTTPException(Exception):
    """Base for every error that maps to an HTTP status.

    ``response`` may carry a ready Response; when set it is sent as is
    (this is how ``abort(response)`` and redirects travel).
    """

    code = 500
    description = None

    def __init__(self, description=None, response=None, headers=None):
        super().__init__(description)
        if description is not None:
            self.description = description
        self.response = response
        self.headers = headers

    @property
    def name(self):
        try:
            return HTTPStatus(self.code).phrase
        except ValueError:
            return "Unknown Error"

    def __str__(self):
        return f"{self.code} {self.name}: {self.description or ''}".rstrip(": ")

    def __repr__(self):
        return f"<{type(self).__name__} '{self.code}: {self.name}'>"


class BadRequest(HTTPException):
    code = 400
    description = "The request could not be understood."
    #: The query or form field at fault, when there is one.
    field: str | None = None


class BadRequestKeyError(BadRequest, KeyError):
    """A required field is missing; still a KeyError for ``except KeyError``."""

    def __init__(self, key, where="form field"):
        self.key = key
        super().__init__(f"Missing {where} {key!r}.")

    def __str__(self):
        return HTTPException.__str__(self)


class Unauthorized(HTTPException):
    code = 401
    description = "Authentication is required."


class Forbidden(HTTPException):
    code = 403
    description = "You do not have access to this resource."


class NotFound(HTTPException):
    code = 404
    description = "The requested URL was not found on the server."


class MethodNotAllowed(HTTPException):
    code = 405
    description = "The method is not allowed for the requested URL."

    def __init__(self, valid_methods=(), description=None):
        super().__init__(description)
        self.valid_methods = tuple(valid_methods)
        self.headers = [("Allow", ", ".join(self.valid_methods))]


class NotAcceptable(HTTPException):
    code = 406
    description = "No acceptable representation is available."


class Conflict(HTTPException):
    code = 409
    description = "The request conflicts with the current state of the resource."


class Gone(HTTPException):
    code = 410
    description = "The resource is no longer available."


class RequestEntityTooLarge(HTTPException):
    code = 413
    description = "The request body is larger than this endpoint accepts."


class UnsupportedMediaType(HTTPException):
    code = 415
    description = "The request body's media type is not supported."


class UnprocessableEntity(HTTPException):
    code = 422
    description = "The request was well-formed but could not be processed."


class TooManyRequests(HTTPException):
    code = 429
    description = "Too many requests."


class InternalServerError(HTTPException):
    code = 500
    description = "The server encountered an internal error."

    def __init__(self, description=None, original_exception=None):
        super().__init__(description)
        self.original_exception = original_exception


class NotImplementedHTTP(HTTPException):
    code = 501
    description = "The server does not support this functionality."


class ServiceUnavailable(HTTPException):
    code = 503
    description = "The service is temporarily unavailable."


class RequestRedirect(HTTPException):
    """Raised by the router for strict-slash redirects.

    308 keeps the method and body, so a POST to ``/items`` lands as a POST on
    ``/items/`` (301 would turn it into a GET in most clients).
    """

    code = 308

    def __init__(self, new_url):
        super().__init__(f"Redirecting to {new_url}.")
        self.new_url = new_url
        self.headers = [("Location", new_url)]


_BY_CODE: dict[int, type] = {
    cls.code: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
        NotAcceptable, Conflict, Gone, RequestEntityTooLarge,
        UnsupportedMediaType, UnprocessableEntity, TooManyRequests,
        InternalServerError, NotImplementedHTTP, ServiceUnavailable,
    )
}


def exception_for(code):
    """The exception class for an error status, creating one if needed.

    Classes made here are cached so ``errorhandler(418)`` and ``abort(418)``
    agree on the type.
    """
    cls = _BY_CODE.get(code)
    if cls is None:
        if not 400 <= code <= 599:
            raise LookupError(f"{code} is not an HTTP error status")
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        name = "HTTP" + "".join(w.capitalize() for w in phrase.replace("-", " ").split()) + f"{code}"
        cls = type(name, (HTTPException,), {"code": code, "description": phrase + "."})
        _BY_CODE[code] = cls
    return cls


def abort(status, description=None, **kwargs):
    """Stop the request now with an HTTP error.

    ``abort(404)``, ``abort(403, "no access")``, or ``abort(response)`` to
    send a prepared Response as the result.
    """
    if isinstance(status, int):
        raise exception_for(status)(description, **kwargs)
    # Anything else is taken to be a response object to send verbatim.
    raise HTTPException(description, response=status)
