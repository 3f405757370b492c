"""Typed views under hostile input, and without the optional libraries."""

import dataclasses
import json
import os
import subprocess
import sys
from typing import Annotated, Optional
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from hatchway.web import App
from hatchway.web.typed import Field, Header, Query

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclasses.dataclass
class Leaf:
    n: Annotated[int, Field(ge=0)]
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Tree:
    name: str
    leaves: list[Leaf]
    meta: dict[str, float] = dataclasses.field(default_factory=dict)
    parent: Optional["Tree"] = None


app = App("robust")


@app.post("/trees/<int:id>")
def plant(id: int, tree: Tree, depth: Annotated[int, Query(ge=0, le=5)] = 0,
          x_mode: Annotated[str, Header(pattern="^[a-z]+$")] = "plain"):
    return {"id": id, "name": tree.name, "depth": depth}


client = app.test_client()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "leaves", "meta", "parent", "n", "tags", "x"]), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(body=json_values, depth=st.text(max_size=4), mode=st.text(alphabet="abcXYZ-", max_size=4))
def test_arbitrary_input_is_200_or_a_listed_422(body, depth, mode):
    r = client.post(f"/trees/1?depth={quote(depth)}", data=json.dumps(body), content_type="application/json",
                    headers={"X-Mode": mode} if mode else {})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        errors = r.get_json()["errors"]
        assert errors and all(e["loc"][0] in ("query", "header", "body") and e["reason"] for e in errors)


@pytest.mark.slow
def test_works_without_msgspec_and_pydantic():
    code = """
import sys, dataclasses
sys.modules["msgspec"] = None      # importing either now raises ImportError
sys.modules["pydantic"] = None
from hatchway.web import App

@dataclasses.dataclass
class P:
    x: int

app = App("bare")

@app.post("/p")
def p(body: P, n: int = 1) -> P:
    return body

c = app.test_client()
assert c.post("/p?n=2", json={"x": 1}).json == {"x": 1}
assert c.post("/p", json={"x": "a"}).status_code == 422
assert "P" in app.openapi()["components"]["schemas"]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
