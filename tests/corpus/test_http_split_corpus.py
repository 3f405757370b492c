"""Every corpus case, fed to the sans-I/O parser split at random points, must give exactly what the
one-shot feed gives: the same requests (method, target, headers, body) and the same rejection.  The
answer is a function of the bytes, never of how the network cut them.  No sockets: this is the
parser alone (test_corpus.py sends the same cases to a real server)."""
import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hatchway.http.policy import Limits
from hatchway.http.events import Rejection
from hatchway.http.protocol import RequestParser

from support.corpus import CASES, decode_raw

LIMIT_FIELDS = {f.name for f in dataclasses.fields(Limits)}


def limits_for(options):
    return Limits(**{k: v for k, v in options.items() if k in LIMIT_FIELDS})


def outcome(raw, limits, cuts):
    """The events the parser yields for `raw` fed in pieces cut at `cuts`, taken off the queue as a
    connection would (a request once its body is complete or broken)."""
    p = RequestParser(limits, spill_at=1 << 30)
    events = []
    bodies = {}

    def drain(final):
        while p.queue:
            item = p.queue[0]
            if type(item) is Rejection:
                events.append(("rejected", item.status))
                p.request_done()
                continue
            body = item.body
            bodies.setdefault(id(item), []).append(body.take())
            if not (body.complete or body.error is not None or final):
                return
            got = b"".join(bodies.pop(id(item)))
            if body.error is not None:
                # How much of a broken body arrived before the break depends on the pieces (a limit
                # trips inside one); what counts is that it broke, and with which status.
                events.append((item.method, item.target, tuple(item.headers), "broken", body.error.status))
            else:
                events.append((item.method, item.target, item.version, tuple(item.headers), got, body.complete))
            p.request_done()

    start = 0
    for cut in sorted(cuts) + [len(raw)]:
        if cut > start:
            p.feed(raw[start:cut])
            drain(False)
            start = cut
    drain(True)
    return events, p.closed


CASE_IDS = [f"{c}:{case['name']}" for c, case in CASES]


@pytest.mark.parametrize("cat,case", CASES, ids=CASE_IDS)
def test_same_outcome_at_any_split(cat, case):
    raw = decode_raw(case["raw"])
    limits = limits_for(case.get("options", {}))
    whole = outcome(raw, limits, [])

    @settings(max_examples=8, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.integers(0, len(raw)), max_size=6)
           | st.integers(1, 7).map(lambda step: list(range(step, len(raw), step))[:4000]))
    def check(cuts):
        assert outcome(raw, limits, cuts) == whole, f"cuts {sorted(cuts)[:20]}"

    check()
