"""Which build runs (pure or mypyc) is reported truthfully, and the build option pulls in a compiler only when asked.

`make test-compiled` runs the whole suite against the installed compiled package with HATCHWAY_EXPECT_BUILD=mypyc;
these tests then prove that the package under test really is the compiled one (not the source tree).
"""
import importlib.machinery
import json
import os
import subprocess
import sys

import hatchway
from hatchway import build

from support import ROOT

EXPECTED = os.environ.get("HATCHWAY_EXPECT_BUILD", "pure")


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


def test_version_option_names_the_running_build():
    result = subprocess.run([sys.executable, "-m", "hatchway", "--version"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line == build.describe()
    assert line.startswith(f"hatchway {hatchway.__version__} (")
    if EXPECTED == build.MYPYC:
        assert f"mypyc build: {len(build.COMPILED_MODULES)} of {len(build.COMPILED_MODULES)}" in line
    else:
        assert "pure-Python build" in line


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


def test_build_backend_asks_for_mypy_only_when_a_compile_is_requested():
    env = {k: v for k, v in os.environ.items() if k != "HATCHWAY_COMPILE"}
    result = subprocess.run([sys.executable, "-c", BACKEND_PROBE], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    pure, compiled = json.loads(result.stdout.strip().splitlines()[-1])
    assert not any(req.startswith("mypy") for req in pure)
    assert any(req.startswith("mypy") for req in compiled)
