"""In-tree PEP 517 backend: setuptools, plus mypy in the build requirements only when a compile is asked for.

Asking for the compiled build (either works; the environment variable also reaches pip's isolated build):
    HATCHWAY_COMPILE=mypyc pip install .
    pip install . --config-settings=compile=mypyc
Without either, the build needs setuptools only and produces the pure-Python wheel.  Editable installs are
always pure: an editable compiled install would write .so files into the source tree, where they would
silently shadow the .py files being edited.
"""
import os

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F401,F403  (every hook we do not override is setuptools')

MYPY_REQUIREMENT = "mypy>=1.10"


def _compile_requested(config_settings) -> bool:
    setting = (config_settings or {}).get("compile")
    if setting:
        os.environ["HATCHWAY_COMPILE"] = str(setting)  # setup.py reads only the environment
    return os.environ.get("HATCHWAY_COMPILE", "").strip().lower() not in ("", "0", "no", "pure")


def get_requires_for_build_wheel(config_settings=None):
    if not _compile_requested(config_settings):
        return _orig.get_requires_for_build_wheel(config_settings)
    # setuptools runs setup.py to list its requirements, before mypy is installed: run it as a pure build.
    mode = os.environ.pop("HATCHWAY_COMPILE")
    try:
        return _orig.get_requires_for_build_wheel(config_settings) + [MYPY_REQUIREMENT]
    finally:
        os.environ["HATCHWAY_COMPILE"] = mode


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _compile_requested(config_settings)
    return _orig.build_wheel(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_editable(config_settings=None):
    os.environ.pop("HATCHWAY_COMPILE", None)
    return _orig.get_requires_for_build_editable(config_settings)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    if os.environ.pop("HATCHWAY_COMPILE", None) or (config_settings or {}).get("compile"):
        print("hatchway: editable installs are always pure Python; HATCHWAY_COMPILE ignored "
              "(use `make compiled` for a compiled install in .venv-mypyc)")
    return _orig.build_editable(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_sdist(config_settings=None):
    return _orig.get_requires_for_build_sdist(config_settings)


def build_sdist(sdist_directory, config_settings=None):
    os.environ.pop("HATCHWAY_COMPILE", None)  # an sdist holds sources only; the compile happens at wheel time
    return _orig.build_sdist(sdist_directory, config_settings)
