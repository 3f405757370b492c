"""The corpus (tests/corpus/*.json): its cases, loaded once, for the socket test and the random-split test."""
from __future__ import annotations

import json
import os

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus")

CATEGORIES = ["conformance", "framing", "smuggling", "limits", "errors", "wsgi"]
CASE_KEYS = {"name", "raw", "options", "expect", "note"}
EXPECT_KEYS = {"status", "status_in", "close", "app_sees", "response_contains"}


def decode_raw(raw):
    """raw is a str (latin-1 code points = bytes) or a list of such strings and
    {"repeat": str, "times": n} parts."""
    if isinstance(raw, str):
        return raw.encode("latin-1")
    out = b""
    for part in raw:
        if isinstance(part, str):
            out += part.encode("latin-1")
        else:
            out += part["repeat"].encode("latin-1") * part["times"]
    return out


def load_cases():
    cases = []
    for cat in CATEGORIES:
        with open(os.path.join(HERE, f"{cat}.json"), encoding="utf-8") as f:
            data = json.load(f)
        for case in data["cases"]:
            cases.append((cat, case))
    return cases


CASES = load_cases()
