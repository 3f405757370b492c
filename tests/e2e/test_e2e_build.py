"""Which build runs (pure or mypyc) is reported truthfully, and the build option pulls in a compiler only when asked.

`make test-compiled` runs the whole suite against the installed compiled package with HWTEST_EXPECT_BUILD=mypyc;
these tests then prove that the package under test really is the compiled one (not the source tree).
"""
import ast
import importlib.machinery
import json
import os
import subprocess
import sys

import pytest

import hatchway
from hatchway import build

from support import ROOT

EXPECTED = os.environ.get("HWTEST_EXPECT_BUILD", "pure")


def test_every_hot_module_is_the_expected_build():
    assert EXPECTED in (build.PURE, build.MYPYC)
    per_module = build.modules()
    assert set(per_module) == set(build.COMPILED_MODULES) and len(per_module) >= 7
    assert per_module == {name: EXPECTED for name in build.COMPILED_MODULES}
    assert build.kind() == EXPECTED
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for name in build.COMPILED_MODULES:
        assert sys.modules[name].__file__.endswith(suffixes) == (EXPECTED == build.MYPYC), name
    if EXPECTED == build.MYPYC:
        # The installed package, never a source tree next to the tests.
        assert not os.path.exists(os.path.join(ROOT, "hatchway"))
        assert "site-packages" in hatchway.__file__


@pytest.mark.slow
def test_version_option_names_the_running_build():
    result = subprocess.run([sys.executable, "-m", "hatchway", "--version"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line == build.describe()
    assert line.startswith(f"hatchway {hatchway.__version__} (")
    if EXPECTED == build.MYPYC:
        assert f"mypyc build: {len(build.COMPILED_MODULES)} of {len(build.COMPILED_MODULES)}" in line
        assert "; llhttp 9.4.3 binding)" in line
    else:
        assert "pure-Python build; httptools " in line


def test_describe_reports_a_mixed_install_by_name(monkeypatch):
    # A half-compiled install (one extension deleted or shadowed) must not pass for either build.
    first, *rest = build.COMPILED_MODULES
    other = build.PURE if EXPECTED == build.MYPYC else build.MYPYC
    builds = {first: other, **{name: EXPECTED for name in rest}}
    monkeypatch.setattr(build, "module_build", builds.__getitem__)
    assert build.kind() == build.MIXED
    text = build.describe()
    assert "mixed build" in text
    assert first.removeprefix("hatchway.") in text if other == build.PURE else "1 of" in text


BACKEND_PROBE = """
import json, sys
sys.path.insert(0, "_build")
import backend
print(json.dumps([backend.get_requires_for_build_wheel(None),
                  backend.get_requires_for_build_wheel({"compile": "mypyc"})]))
"""


@pytest.mark.slow
def test_build_backend_asks_for_mypy_only_when_a_compile_is_requested():
    env = {k: v for k, v in os.environ.items() if k != "HATCHWAY_COMPILE"}
    result = subprocess.run([sys.executable, "-c", BACKEND_PROBE], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    pure, compiled = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any(req.startswith("mypy") for req in pure)
    assert any(req.startswith("mypy") for req in compiled)


def _source_path(name: str) -> str:
    """The .py of a compiled module; an installed compiled build keeps it next to the extension."""
    origin = importlib.import_module(name).__file__  # imported here: a test run may not have loaded it yet
    base = origin[:-len(next(s for s in importlib.machinery.EXTENSION_SUFFIXES if origin.endswith(s)))] \
        if origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)) else origin[:-3]
    return base + ".py"


def _mypyc_hazards(path: str) -> list[str]:
    """What mypyc compiles into a run-time TypeError or a missing attribute (docs/build.md, "Writing code that
    compiles"): a `self.x = None` or module-level `X = None` with no declaration (mypy then infers the type None),
    and a class-level alias of a method (mypyc drops it)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None:
            found += [f"{path}:{node.lineno}: module global {t.id} = None" for t in node.targets
                      if isinstance(t, ast.Name)]
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        declared = {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        declared |= {n.target.attr for n in ast.walk(cls) if isinstance(n, ast.AnnAssign)
                     and isinstance(n.target, ast.Attribute)}
        methods = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for node in cls.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in methods:
                found.append(f"{path}:{node.lineno}: {cls.name}: method alias {node.value.id} (write a method)")
        for node in ast.walk(cls):
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None):
                continue
            for target in node.targets:
                for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(t, ast.Attribute) and getattr(t.value, "id", None) == "self" \
                            and t.attr not in declared:
                        found.append(f"{path}:{node.lineno}: {cls.name}.{t.attr} = None, undeclared (add "
                                     f"'{t.attr}: Any' to the class)")
    return found


def test_compiled_modules_have_no_undeclared_none_attributes():
    # Checked on the sources in both builds, so a change that would break the compiled build fails `make test`.
    for name in build.COMPILED_MODULES:
        assert _mypyc_hazards(_source_path(name)) == [], name


def test_the_hazard_check_finds_what_mypyc_would_break(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("X = None\nclass C:\n    def f(self):\n        self.a = None\n    g = f\n"
                   "class D:\n    b: int\n    def f(self):\n        self.b = None\n")
    hazards = _mypyc_hazards(str(bad))
    assert len(hazards) == 3, hazards
    assert any("module global X" in h for h in hazards) and any("C.a = None" in h for h in hazards)
    assert any("method alias f" in h for h in hazards)


def test_the_compiled_build_tokenizes_with_its_own_llhttp_binding():
    from hatchway.http import protocol

    assert protocol.NATIVE_TOKENIZER == (EXPECTED == build.MYPYC)
    assert protocol.RequestParser().native == (EXPECTED == build.MYPYC)
    if EXPECTED == build.MYPYC:
        from hatchway.http import _tokenizer

        assert _tokenizer.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
        # The very llhttp that the pure build reaches through httptools: vendor/llhttp's README names the source.
        with open(os.path.join(ROOT, "vendor", "llhttp", "README.md")) as f:
            assert f"llhttp {_tokenizer.LLHTTP_VERSION} (vendored)" in f.readline()
