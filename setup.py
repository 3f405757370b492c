"""Build script: pure Python by default; the hot path compiled with mypyc when HATCHWAY_COMPILE=mypyc.

Everything declarative lives in pyproject.toml.  This file only decides whether there are extension modules:
    pip install .                          pure-Python wheel (py3-none-any), no compiler needed
    HATCHWAY_COMPILE=mypyc pip install .   the modules in hatchway/build.py COMPILED_MODULES become C extensions
The in-tree backend (_build/backend.py) adds mypy to the build requirements only in the second case.
"""
import ast
import os
import pathlib

from setuptools import setup

HERE = pathlib.Path(__file__).resolve().parent
# mypy options for the compile.  --follow-imports=silent: the modules we do not compile are type-checked only
# for what the compiled ones use from them.  union-attr and var-annotated are off because they only concern
# `X | None` narrowing and empty-container hints, which mypyc handles at run time as `object`; every other type
# error stops the build.  --config-file= (empty): pyproject's [tool.mypy] is the lint gate (`make lint`, strict for
# hatchway.http and hatchway.server); it must not also decide whether the compile builds, so the compile reads no
# config file and sees exactly these flags.
MYPY_FLAGS = ["--config-file=", "--ignore-missing-imports", "--follow-imports=silent",
              "--disable-error-code", "union-attr", "--disable-error-code", "var-annotated"]


def compiled_modules() -> list:
    """COMPILED_MODULES from hatchway/build.py, read without importing hatchway (its deps may be absent here)."""
    tree = ast.parse((HERE / "hatchway" / "build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMPILED_MODULES" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise SystemExit("setup.py: COMPILED_MODULES not found in hatchway/build.py")


def ext_modules() -> list:
    mode = os.environ.get("HATCHWAY_COMPILE", "").strip().lower()
    if mode in ("", "0", "no", "pure"):
        return []
    if mode not in ("1", "yes", "mypyc"):
        raise SystemExit(f"HATCHWAY_COMPILE={mode!r}: expected 'mypyc' (compile) or 'pure' / unset")
    from mypyc.build import mypycify

    paths = [name.replace(".", "/") + ".py" for name in compiled_modules()]
    return mypycify(MYPY_FLAGS + paths, opt_level=os.environ.get("HATCHWAY_MYPYC_OPT", "3"),
                    target_dir="build/mypyc-c") + [tokenizer_extension()]


def tokenizer_extension():
    """hatchway.http._tokenizer: our binding of llhttp (vendor/llhttp, the version httptools vendors), which hands
    a request head to Python in one call (docs/build.md)."""
    from setuptools import Extension

    llhttp = "vendor/llhttp"
    sources = ["hatchway/http/_tokenizer.c"] + [f"{llhttp}/src/{n}.c" for n in ("api", "http", "llhttp")]
    return Extension("hatchway.http._tokenizer", sources=sources, include_dirs=[f"{llhttp}/include"],
                     extra_compile_args=["-O3"])


EXT_MODULES = ext_modules()
# Separate build trees, so a pure wheel can never pick up extensions left in build/ by an earlier compile.
setup(ext_modules=EXT_MODULES, options={"build": {"build_base": "build/mypyc" if EXT_MODULES else "build/pure"}})
