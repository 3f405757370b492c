"""Runner for the raw-request corpus (tests/corpus/*.json).

Each case is sent on a fresh raw socket to a hatchway server running the recording
echo app, in both threads=0 and threads=4 modes. See README.md in this folder for the
case format.
"""
import json
from wsgiref.validate import validator

import pytest

from support import Recorder, RunningServer, thread_modes

from support.corpus import CASE_KEYS, CASES, CATEGORIES, EXPECT_KEYS, decode_raw


def test_corpus_schema_and_size():
    names = set()
    per_cat = {}
    for cat, case in CASES:
        assert set(case) <= CASE_KEYS, (case["name"], set(case) - CASE_KEYS)
        assert set(case["expect"]) <= EXPECT_KEYS, (case["name"], set(case["expect"]) - EXPECT_KEYS)
        key = f"{cat}:{case['name']}"
        assert key not in names, f"duplicate case name {key}"
        names.add(key)
        per_cat[cat] = per_cat.get(cat, 0) + 1
        exp = case["expect"]
        assert "close" in exp, key
        assert ("status" in exp) + ("status_in" in exp) <= 1, key
        if "status" not in exp and "status_in" not in exp:
            assert exp.get("app_sees"), f"{key}: accepted case must list app_sees"
        decode_raw(case["raw"])
    assert len(CASES) >= 150, per_cat
    assert set(per_cat) == set(CATEGORIES)


def asterisk_tolerant(app):
    """validator() wraps the app, except for PATH_INFO == '*' (OPTIONS * HTTP/1.1):
    wsgiref.validate asserts PATH_INFO starts with '/', which the rules override."""
    checked = validator(app)

    def dispatch(environ, start_response):
        if environ.get("PATH_INFO") == "*":
            return app(environ, start_response)
        return checked(environ, start_response)

    return dispatch


@pytest.fixture(scope="session")
def corpus_servers():
    servers = {}

    def get(threads, options):
        key = (threads, json.dumps(options, sort_keys=True))
        if key not in servers:
            rec = Recorder()
            servers[key] = (RunningServer(asterisk_tolerant(rec), threads=threads, validate=False, **options), rec)
        return servers[key]

    yield get
    for server, _ in servers.values():
        server.close()


def match_record(expected, actual, where):
    for key, value in expected.items():
        if key == "absent_http":
            for name in value:
                assert name not in actual["http"], f"{where}: {name} reached environ: {actual['http']}"
        elif key == "http":
            for hk, hv in value.items():
                got = actual["http"].get(hk)
                assert got == hv, f"{where}: environ[{hk}]={got!r}, expected {hv!r}"
        else:
            assert actual.get(key) == value, f"{where}: app saw {key}={actual.get(key)!r}, expected {value!r}"


@pytest.mark.parametrize("threads", thread_modes(), ids=lambda t: f"threads{t}")
@pytest.mark.parametrize("cat,case", CASES, ids=[f"{c}:{case['name']}" for c, case in CASES])
def test_corpus_case(cat, case, threads, corpus_servers):
    server, rec = corpus_servers(threads, case.get("options", {}))
    exp = case["expect"]
    app_sees = exp.get("app_sees", [])
    final = None
    if "status" in exp:
        final = [exp["status"]]
    elif "status_in" in exp:
        final = exp["status_in"]
    start = len(rec.seen)
    raw = decode_raw(case["raw"])
    with server.connect(timeout=10) as conn:
        port = conn.local_port
        try:
            conn.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may reject and close before the whole request is sent
        responses = []
        for i, seen in enumerate(app_sees):
            resp = conn.read_response(method=seen.get("method", "GET"))
            responses.append(resp)
            assert resp.status == 200, f"response #{i + 1}: expected 200 from the app, got {resp!r}"
            assert resp.get("x-echo-method") is not None, f"response #{i + 1} did not come from the app: {resp!r}"
            assert resp.get("server"), f"response #{i + 1} has no Server header"
        if final is not None:
            resp = conn.read_response()
            responses.append(resp)
            assert resp.status in final, f"expected status {final}, got {resp.status} {resp.reason!r}: {resp!r}"
            assert resp.get("server"), "rejection has no Server header"
            assert resp.get("x-echo-method") is None, f"rejection came from the app: {resp!r}"
            assert not resp.interim, f"interim response(s) {resp.interim} before the rejection"
            if resp.status >= 400:
                assert resp.has_token("connection", "close"), f"rejection without Connection: close: {resp!r}"
        for needle in exp.get("response_contains", []):
            assert any(needle.lower().encode("latin-1") in r.raw_head.lower() for r in responses), (
                f"{needle!r} not in any response head: {responses!r}"
            )
        if exp["close"]:
            conn.wait_closed(timeout=8)
        else:
            conn.send(b"GET /__probe__ HTTP/1.1\r\nHost: probe\r\n\r\n")
            probe = conn.read_response()
            assert probe.status == 200 and probe.json["path"] == "/__probe__", (
                f"connection not usable after the case (keep-alive expected): {probe!r}"
            )
    actual = rec.since(start, port)
    assert len(actual) == len(app_sees), (
        f"app saw {len(actual)} request(s), expected {len(app_sees)}: "
        + json.dumps([{k: r[k] for k in ("method", "path", "query", "body")} for r in actual])
    )
    for i, (e, a) in enumerate(zip(app_sees, actual, strict=True)):
        match_record(e, a, f"request #{i + 1}")
