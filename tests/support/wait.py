"""Waiting on a condition with a deadline: the suite's one way to wait (never a fixed sleep)."""
from __future__ import annotations

import time

# Generous: the machine has 2 cores shared with other runs.  A deadline only bounds a failing test;
# a passing one returns as soon as its condition holds.
DEADLINE = 30.0


def wait_for(predicate, timeout: float = DEADLINE, interval: float = 0.01, what: str = "condition"):
    """Poll `predicate` until it returns a true value (returned) or `timeout` seconds pass (AssertionError)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
