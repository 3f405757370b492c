"""The compiled build's tokenizer (hatchway/http/_tokenizer.c, llhttp with one Python call per head) and httptools
give the parser exactly the same events for the same bytes, cut the same way: requests with every field, the
same rejections with the same reasons, the same in-head state between feeds (and the native tokenizer never queues
more than max_pipelined requests, even from one small feed).

Both run in every build.  The compiled build has the binding installed; under the pure build this module compiles
it from the tree's sources first (a C compiler: scripts/install-tools.sh installs one), so the comparison never
depends on which build the suite runs against.  No sockets: the parser alone.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sysconfig

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hatchway.http import protocol
from hatchway.http.events import Rejection
from hatchway.http.policy import Limits

from support import ROOT
from support.corpus import CASES, decode_raw

LIMIT_FIELDS = set(Limits.__dataclass_fields__)


def _build_from_source(tmp: str):
    """Compile _tokenizer.c and the vendored llhttp as setup.py does, and load the result."""
    ext = os.path.join(tmp, "_tokenizer" + sysconfig.get_config_var("EXT_SUFFIX"))
    llhttp = os.path.join(ROOT, "vendor", "llhttp")
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    cmd = cc + ["-shared", "-fPIC", "-O1", "-I" + sysconfig.get_paths()["include"],
                "-I" + os.path.join(llhttp, "include"), os.path.join(ROOT, "hatchway", "http", "_tokenizer.c")]
    cmd += [os.path.join(llhttp, "src", name + ".c") for name in ("api", "http", "llhttp")]
    subprocess.run(cmd + ["-o", ext], check=True, capture_output=True, timeout=120)
    loader = importlib.machinery.ExtensionFileLoader("hatchway.http._tokenizer", ext)
    spec = importlib.util.spec_from_loader("hatchway.http._tokenizer", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    module.note_fields(protocol._NOTED)  # as protocol.py does when it imports the installed binding
    return module.Tokenizer


@pytest.fixture(scope="module", autouse=True)
def native(tmp_path_factory):
    if protocol.NATIVE_TOKENIZER:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:  # the pure build's protocol module: patchable
        mp.setattr(protocol, "_NativeTokenizer", _build_from_source(str(tmp_path_factory.mktemp("tokenizer"))))
        mp.setattr(protocol, "NATIVE_TOKENIZER", True)
        yield


def outcome(raw: bytes, limits: Limits, cuts, native: bool):
    """Every event and every observable state of the parser, feed by feed."""
    p = protocol.RequestParser(limits, spill_at=1 << 30, native=native)
    assert p.native == native
    seen = []
    start = 0
    for cut in sorted(set(cuts)) + [len(raw)]:
        if cut <= start:
            continue
        p.feed(raw[start:cut])
        start = cut
        # What is held back differs: the native tokenizer pauses at the exact head the pipeline has
        # room for, the pure path only bounds feeds over FEED_SLICE.  So the state is compared once the
        # queue is drained (and what was held back parsed); the events may not differ at all.
        if native:
            assert sum(type(item) is not Rejection for item in p.queue) <= limits.max_pipelined
        while p.queue:
            item = p.queue[0]
            if type(item) is Rejection:
                seen.append(("rejected", item.status, item.reason))
            else:
                body = item.body
                seen.append((item.method, item.target, item.version, tuple(item.headers), item.keep_alive,
                             item.content_length, item.chunked, item.expect_continue, item.has_body,
                             body.take(), body.complete, body.error and (body.error.status, body.error.reason)))
                if not (body.complete or body.error is not None):
                    break
            p.request_done()
        seen.append(("state", p.in_head, p.closed, p.held_back))
    p.feed_eof()
    seen.append(("eof", p.closed, len(p.queue)))
    return seen


def same(raw: bytes, limits: Limits = protocol.policy.DEFAULT_LIMITS, cuts=()):
    expected = outcome(raw, limits, cuts, native=False)
    assert outcome(raw, limits, cuts, native=True) == expected, f"cuts {sorted(cuts)[:20]}"


@pytest.mark.parametrize("cat,case", CASES, ids=[f"{c}:{case['name']}" for c, case in CASES])
def test_every_corpus_case_gives_the_same_events(cat, case):
    raw = decode_raw(case["raw"])
    limits = Limits(**{k: v for k, v in case.get("options", {}).items() if k in LIMIT_FIELDS})
    same(raw, limits)
    same(raw, limits, list(range(1, len(raw), 7))[:2000])


_name = st.sampled_from([b"Host", b"host", b"Content-Length", b"Transfer-Encoding", b"Expect", b"Upgrade",
                         b"User-Agent", b"user-agent", b"Referer", b"Content-Type", b"Authorization", b"X-A",
                         b"Connection", b"Accept", b"X_Under", b"Bad Name", b""])
_value = st.sampled_from([b"a", b"", b"  ", b"x \t", b"127.0.0.1:8000", b"3", b"0", b"-1", b"chunked",
                          b"gzip, chunked", b"100-continue", b"websocket", b"close", b"keep-alive", b"a\x00b",
                          b"\xff"])
_line = st.sampled_from([b"GET / HTTP/1.1", b"POST /p?q=1 HTTP/1.1", b"GET / HTTP/1.0", b"PUT /x HTTP/1.1",
                         b"OPTIONS * HTTP/1.1", b"CONNECT a:1 HTTP/1.1", b"GET http://h/ HTTP/1.1",
                         b"BREW / HTTP/1.1", b"GET / HTTP/2.0", b"GET /a#b HTTP/1.1", b"G ET / HTTP/1.1",
                         b"get / HTTP/1.1", b"GET  / HTTP/1.1", b"GET / HTTP/1.1 "])


@st.composite
def streams(draw):
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        out += draw(_line) + b"\r\n"
        for _ in range(draw(st.integers(0, 6))):
            out += draw(_name) + b":" + draw(st.sampled_from([b" ", b"", b"\t"])) + draw(_value) + b"\r\n"
        out += b"\r\n" + draw(st.sampled_from([b"", b"abc", b"3\r\nabc\r\n0\r\n\r\n", b"\r\n"]))
    if draw(st.booleans()):  # a byte flipped, cut or doubled somewhere
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + draw(st.sampled_from([b"", b"\n", b"\r", b" ", b"\x00", out[i:i + 1] * 2])) + out[i + 1:]
    return out


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams(), st.lists(st.integers(0, 400), max_size=5),
       st.sampled_from([Limits(), Limits(max_header_count=3, max_target_size=8, max_field_size=12,
                                         max_header_size=60, max_pipelined=1)]))
def test_generated_streams_give_the_same_events(raw, cuts, limits):
    same(raw, limits, cuts)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=4))
def test_arbitrary_bytes_give_the_same_events(raw, cuts):
    same(b"GET / HTTP/1.1\r\nHost: a\r\n" + raw, cuts=cuts)
    same(raw, cuts=cuts)


def test_a_long_head_in_many_pieces_is_collected_whole():
    # Names, values and the target each cut in one-byte feeds, up to the limits and past them.
    head = b"GET /" + b"t" * 300 + b" HTTP/1.1\r\nHost: a\r\n" + b"".join(
        b"X-%d: %s\r\n" % (i, b"v" * i) for i in range(60)) + b"\r\n"
    same(head, cuts=range(1, len(head)))
    same(head, Limits(max_header_count=40), cuts=range(1, len(head), 3))
    same(head, Limits(max_target_size=200), cuts=range(1, len(head), 5))
    same(head, Limits(max_field_size=40), cuts=range(1, len(head), 2))


@pytest.mark.parametrize("limit", [1, 2, 8])
def test_one_feed_of_pipelined_posts_pauses_at_the_limit_and_loses_nothing(limit):
    """The native tokenizer stops after the message of the last head there is room for, in the middle of one feed
    (under FEED_SLICE, where the pure path does not bound the queue), and parses the rest as requests are done."""
    raw = b"".join(b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab%d" % (i, i % 10) for i in range(20))
    raw += b"GET /last HTTP/1.1\r\nHost: x\r\n\r\n"
    limits = Limits(max_pipelined=limit)
    p = protocol.RequestParser(limits, native=True)
    p.feed(raw)
    assert len(p.queue) == limit and p.held_back > 0
    targets = []
    while p.queue:
        req = p.queue[0]
        targets.append((req.target, req.body.take()))
        p.request_done()
        assert len(p.queue) <= limit
    assert targets == [(b"/%d" % i, b"ab%d" % (i % 10)) for i in range(20)] + [(b"/last", b"")]
    same(raw, limits)


@pytest.mark.parametrize("native", [True, False])
def test_a_flood_of_tiny_pipelined_requests_is_resumed_in_batches(native):
    """What is held back is copied on every resume, so resuming after each request done would cost the square of
    the flood (2,400 requests in one 64 KiB read: 2,400 copies of up to 64 KiB).  It resumes once half the queue
    is done: at most one resume per max_pipelined // 2 requests, and every request arrives, in order."""
    one = b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n"
    raw = b"".join(one % i for i in range(2400))
    p = protocol.RequestParser(Limits(max_pipelined=64), native=native)
    p.feed(raw)
    resumes = 0
    held = p.held_back
    seen = 0
    while p.queue:
        assert p.queue[0].target == b"/%d" % seen
        seen += 1
        p.request_done()
        if p.held_back != held:
            resumes += 1
            held = p.held_back
    assert seen == 2400 and held == 0
    assert resumes <= 2400 // 32 + 1, resumes
