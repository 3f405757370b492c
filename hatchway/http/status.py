"""Reason phrases."""
from http import HTTPStatus

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS.setdefault(418, "I'm a Teapot")


def reason(code: int) -> str:
    return REASONS.get(code, "Unknown")
