"""Where each setting comes from: the command line, then `HATCHWAY_*` variables, then a TOML file,
then the default.  The option table itself lives in `hatchway.options.TUNABLES`; this module only knows
how to read one option from each source and how to print the table as documentation.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

ENV_PREFIX = "HATCHWAY_"
SOURCES = ("command line", "environment", "config file", "default")


class SettingsError(Exception):
    """A setting has a bad value or the config file is unreadable; the message is one line."""


@dataclass(frozen=True)
class Option:
    flag: str | None          # "--max-requests"; None for the positional application
    dest: str                 # the attribute name, the TOML key and (upper-cased) the env suffix
    type: Callable[[str], Any]
    default: Any
    help: str
    config: bool = False      # True: a ServerConfig field of the same name
    kind: str = "value"       # "value", "flag" (boolean switch) or "list" (repeatable)
    choices: tuple = ()
    short: str | None = None
    aliases: tuple = ()       # other spellings of the flag (gunicorn's --limit-request-field_size)

    @property
    def env(self) -> str:
        """Spelt like the flag: --keep-alive is HATCHWAY_KEEP_ALIVE (the positional app: HATCHWAY_APP)."""
        name = self.dest if self.flag is None else self.flag[2:]
        return ENV_PREFIX + name.upper().replace("-", "_")

    @property
    def old_env(self) -> str:
        """The name before the variables followed the flags: spelt after the setting."""
        return ENV_PREFIX + self.dest.upper()

    @property
    def key(self) -> str:
        return self.dest.replace("_", "-") if self.flag is None else self.flag[2:]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _from_text(opt: Option, text: str, where: str):
    """Convert a string from the environment (or a scalar from TOML) with the option's own parser."""
    if opt.kind == "flag":
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"{where}: expected true or false, got {text!r}")
    if opt.kind == "list":
        items = [item for item in text.replace(",", " ").split() if item]
        return [_convert(opt, item, where) for item in items]
    return _convert(opt, text, where)


def _convert(opt: Option, text: str, where: str):
    try:
        value = opt.type(text)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{where}: {exc}") from None
    if opt.choices and value not in opt.choices:
        raise SettingsError(f"{where}: expected one of {', '.join(opt.choices)}, got {text!r}")
    return value


def _from_toml(opt: Option, value, where: str):
    if opt.kind == "flag":
        if isinstance(value, bool):
            return value
        raise SettingsError(f"{where}: expected true or false, got {value!r}")
    if opt.kind == "list":
        values = value if isinstance(value, list) else [value]
        return [_convert(opt, str(v), where) for v in values]
    if isinstance(value, (list, dict)):
        raise SettingsError(f"{where}: expected a single value, got {value!r}")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return _convert(opt, str(value), where)


def read_toml(path: str, options) -> dict:
    """The file's settings by dest.  Keys may be spelt as the flag (`limit-request-line`) or the
    setting's name (`max_target_size`), each with dashes or underscores, at the top level or under a
    `[hatchway]` table."""
    import tomllib  # only with --config: the parser and datetime cost every worker ~1.4 MiB of RSS

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path!r} is not valid TOML: {exc}") from None
    if isinstance(data.get("hatchway"), dict):
        data = {**{k: v for k, v in data.items() if k != "hatchway"}, **data["hatchway"]}
    by_key = {}
    for opt in options:
        for name in (opt.dest, opt.key):  # the setting or the flag, with dashes or underscores
            by_key[name.replace("-", "_")] = opt
            by_key[name.replace("_", "-")] = opt
    out = {}
    for key, value in data.items():
        opt = by_key.get(key)
        if opt is None:
            raise SettingsError(f"config file {path!r}: unknown setting {key!r}")
        if opt.dest in out:
            raise SettingsError(f"config file {path!r}: {opt.dest} is set twice (as {key!r} and another spelling)")
        out[opt.dest] = _from_toml(opt, value, f"config file {path!r}, {key}")
    return out


def resolve(options, cli_values: dict, environ=None, file_values: dict | None = None):
    """Settle every option: CLI > env > file > default.  Returns (values, sources) by dest."""
    environ = os.environ if environ is None else environ
    file_values = file_values or {}
    values, sources = {}, {}
    for opt in options:
        cli = cli_values.get(opt.dest)
        if cli is not None:
            values[opt.dest], sources[opt.dest] = cli, SOURCES[0]
        elif opt.env in environ:
            values[opt.dest] = _from_text(opt, environ[opt.env], f"environment variable {opt.env}")
            sources[opt.dest] = SOURCES[1]
        elif opt.dest in file_values:
            values[opt.dest], sources[opt.dest] = file_values[opt.dest], SOURCES[2]
        else:
            default = opt.default
            values[opt.dest] = list(default) if isinstance(default, list) else default
            sources[opt.dest] = SOURCES[3]
    return values, sources


def options_table(options) -> str:
    """The Markdown table in docs/operations.md, generated from the option table."""
    rows = ["| option | environment | config file key | default | what |", "|---|---|---|---|---|"]
    for opt in options:
        flag = opt.flag or f"`{opt.dest.upper()}` (positional)"
        if opt.flag:
            flag = f"`{opt.flag}`" + (f", `{opt.short}`" if opt.short else "")
            flag += "".join(f", `{alias}`" for alias in opt.aliases)
            if opt.kind == "flag":
                flag += f", `--no-{opt.flag[2:]}`"
        default = opt.default
        if default is None or default == [] or default == "":
            shown = "-"
        elif isinstance(default, bool):
            shown = "true" if default else "false"
        else:
            shown = f"`{default!r}`" if isinstance(default, list) else f"`{default}`"
        text = opt.help.replace("|", "\\|")
        rows.append(f"| {flag} | `{opt.env}` | `{opt.dest}` | {shown} | {text} |")
    return "\n".join(rows)
