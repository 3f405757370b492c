"""The states of an HTTP/1.1 connection and the transitions allowed between them.

    IDLE --bytes--> HEAD --head done--> BODY (the body is buffered on the loop) --> BUSY
    IDLE --head done--> BUSY: the app runs, inline on the loop or on a thread
    IDLE --head done--> BODY
    HEAD --head done--> BUSY
    BUSY --socket full--> WRITING --written--> BUSY
    BUSY --keep-alive--> IDLE
    BUSY --next head begun--> HEAD
    BUSY --next request queued--> BODY
    BUSY --unread body--> DRAIN --drained--> IDLE
    BUSY --we close first--> LINGER
    IDLE --protocol error--> LINGER
    HEAD --protocol error or timeout--> LINGER
    BODY --protocol error or timeout--> LINGER
    LINGER --peer's FIN or linger timeout--> CLOSED
    IDLE --idle timeout or EOF--> CLOSED
    HEAD --EOF--> CLOSED
    BODY --EOF--> CLOSED
    BUSY --peer gone--> CLOSED
    WRITING --peer gone or write stall--> CLOSED
    DRAIN --too much or too slow--> CLOSED

A connection starts in IDLE (its first request is held to the header timeout, not the keep-alive
one).  Every change of state goes through the connection's one transition method, `_enter`, which
also sets the deadline of the new state; TRANSITIONS is the diagram as data, checked by the tests
against the transitions real connections make.
"""
from __future__ import annotations

from typing import Final

# Final: the compiled build inlines them (a plain module global is a dict lookup per use).
IDLE: Final = 0
HEAD: Final = 1
BODY: Final = 2
BUSY: Final = 3
WRITING: Final = 4
DRAIN: Final = 5
LINGER: Final = 6
CLOSED: Final = 7
NAMES = ("IDLE", "HEAD", "BODY", "BUSY", "WRITING", "DRAIN", "LINGER", "CLOSED")

TRANSITIONS: dict[int, frozenset[int]] = {
    IDLE: frozenset((HEAD, BODY, BUSY, LINGER, CLOSED)),
    HEAD: frozenset((BODY, BUSY, LINGER, CLOSED)),
    BODY: frozenset((BUSY, LINGER, CLOSED)),
    BUSY: frozenset((WRITING, IDLE, HEAD, BODY, DRAIN, LINGER, CLOSED)),
    WRITING: frozenset((BUSY, CLOSED)),
    DRAIN: frozenset((IDLE, CLOSED)),
    LINGER: frozenset((CLOSED,)),
    CLOSED: frozenset(),
}
