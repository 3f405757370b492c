"""Reason phrases and preformatted status lines."""
from http import HTTPStatus

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS.setdefault(418, "I'm a Teapot")


def reason(code: int) -> str:
    return REASONS.get(code, "Unknown")


def status_line(code: int) -> str:
    return f"{code} {reason(code)}"
