"""The 422 raised when binding fails, and the problem+json shapes for the docs."""

import typing

from ..exceptions import UnprocessableEntity

__all__ = ["RequestValidationError", "Problem", "ValidationProblem", "FieldError"]


class RequestValidationError(UnprocessableEntity):
    """Every field that failed, each as ``{"loc": [...], "reason": "..."}``.

    ``errors`` is the list; :mod:`hatchway.web.errors` adds it to the problem
    body through ``problem_extra``.
    """

    def __init__(self, errors):
        n = len(errors)
        # The locations go in the detail too, so the HTML page (browsers) names the fields.
        where = ", ".join(".".join(map(str, loc)) for loc, _ in errors[:10]) + (", ..." if n > 10 else "")
        super().__init__(f"{n} field{'s' if n != 1 else ''} failed validation: {where}.")
        self.errors = [{"loc": list(loc), "reason": reason} for loc, reason in errors]
        self.problem_extra = {"errors": self.errors}


class FieldError(typing.TypedDict):
    loc: list[str | int]
    reason: str


class Problem(typing.TypedDict, total=False):
    """An RFC 9457 problem detail, as every error response of hatchway.web."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    field: str


class ValidationProblem(Problem, total=False):
    """A 422: the problem detail plus every failing field."""

    errors: list[FieldError]
