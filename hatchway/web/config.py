"""``app.config``: a dict with Flask's loaders.

It is a plain ``dict`` subclass, so the per-request reads the app makes
(``config["MAX_CONTENT_LENGTH"]``) cost what a dict lookup costs. Relative
file names are resolved against the app's ``root_path``, as in Flask.
"""

import json
import os
import types

__all__ = ["Config"]


def _loader_for(filename):
    ext = os.path.splitext(filename)[1].lower()
    if ext == ".toml":
        import tomllib

        return tomllib.load, False
    if ext == ".json":
        return json.load, True
    raise ValueError(
        f"config file {filename!r}: cannot tell how to read a {ext or 'extension-less'} file; "
        "pass load= (e.g. load=tomllib.load, text=False)"
    )


class Config(dict):
    """Configuration values; only UPPERCASE keys are taken from objects and files."""

    def __init__(self, root_path=None, defaults=None):
        super().__init__(defaults or {})
        self.root_path = root_path or os.getcwd()

    def _path(self, filename):
        return os.path.join(self.root_path, os.fspath(filename))

    def from_object(self, obj):
        """Copy the UPPERCASE attributes of a module, class or object (or an import string)."""
        if isinstance(obj, str):
            obj = _import_string(obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_mapping(self, mapping=None, **kwargs):
        """Copy the UPPERCASE keys of a mapping and keyword arguments."""
        items = dict(mapping or {})
        items.update(kwargs)
        for key, value in items.items():
            if key.isupper():
                self[key] = value
        return True

    def from_file(self, filename, load=None, silent=False, text=True):
        """Load a file as a mapping: ``.toml`` (tomllib) and ``.json`` by extension, or ``load=``.

        Flask's signature: ``from_file("c.toml", load=tomllib.load, text=False)`` works too.
        """
        path = self._path(filename)
        if load is None:
            load, text = _loader_for(path)
        try:
            with open(path, "r" if text else "rb") as f:
                obj = load(f)
        except OSError as e:
            if silent and e.errno in (2, 21, 20):  # ENOENT, EISDIR, ENOTDIR
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        return self.from_mapping(obj)

    def from_pyfile(self, filename, silent=False):
        """Execute a Python file and take its UPPERCASE globals."""
        path = self._path(filename)
        module = types.ModuleType("config")
        module.__file__ = path
        try:
            with open(path, "rb") as f:
                exec(compile(f.read(), path, "exec"), module.__dict__)
        except OSError as e:
            if silent and e.errno in (2, 21, 20):
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        self.from_object(module)
        return True

    def from_envvar(self, variable_name, silent=False):
        """``from_pyfile(os.environ[variable_name])``."""
        path = os.environ.get(variable_name)
        if not path:
            if silent:
                return False
            raise RuntimeError(
                f"The environment variable {variable_name!r} is not set; set it to the path of a config file"
            )
        return self.from_pyfile(path, silent=silent)

    def from_prefixed_env(self, prefix="HATCHWAY", *, loads=json.loads):
        """Take ``PREFIX_KEY`` variables; values are parsed as JSON, else kept as text.

        ``PREFIX_A__B=1`` sets ``config["A"]["B"] = 1`` (nested dicts), as Flask does.
        """
        prefix = f"{prefix}_"
        for key in sorted(os.environ):
            if not key.startswith(prefix):
                continue
            value = os.environ[key]
            try:
                value = loads(value)
            except Exception:
                pass  # not JSON: keep the text
            key = key[len(prefix):]
            if "__" not in key:
                self[key] = value
                continue
            current = self
            *parts, tail = key.split("__")
            for part in parts:
                if part not in current:
                    current[part] = {}
                current = current[part]
            current[tail] = value
        return True

    def get_namespace(self, namespace, lowercase=True, trim_namespace=True):
        """The keys starting with ``namespace`` (e.g. ``"UPLOAD_"``) as a dict."""
        out = {}
        for key, value in self.items():
            if not key.startswith(namespace):
                continue
            key = key[len(namespace):] if trim_namespace else key
            out[key.lower() if lowercase else key] = value
        return out

    def __repr__(self):
        return f"<Config {dict.__repr__(self)}>"


def _import_string(name):
    import importlib

    module_name, _, attr = name.replace(":", ".").rpartition(".")
    if not module_name:
        return importlib.import_module(attr)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return importlib.import_module(name)
    try:
        return getattr(module, attr)
    except AttributeError:
        return importlib.import_module(name)
