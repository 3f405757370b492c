"""A rule string parsed into segments of literal text and converters.

``/users/<int:id>/v<int:n>.json`` becomes one list of parts per segment; a
part is either a ``str`` or a ``(name, converter)`` tuple. The matcher
compiles these parts into its trie, the map builds URLs from them and the
explainer prints them back.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..converters import BaseConverter

__all__ = ["Rule", "segments_text", "mixed_regex", "tail_regex", "tail_converters", "part_key"]

_VAR = re.compile(
    r"<(?:(?P<conv>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>"
)
_ARG = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?
    (?P<value>"[^"]*"|'[^']*'|[^,]*?)\s*(?:,|\Z)""",
    re.VERBOSE,
)
_NAMED_LITERALS = {"True": True, "False": False, "None": None}

# One segment of a rule: literal text and (name, converter) pairs, in order.
Part = Any
Segment = list


def _literal(text: str) -> Any:
    if text[:1] in "\"'":
        return text[1:-1]
    if text in _NAMED_LITERALS:
        return _NAMED_LITERALS[text]
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _parse_args(text: str | None) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if not text or not text.strip():
        return args, kwargs
    pos = 0
    while pos < len(text):
        m = _ARG.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse converter arguments {text!r}")
        value = _literal(m.group("value"))
        if m.group("key"):
            kwargs[m.group("key")] = value
        elif kwargs:
            raise ValueError(f"positional converter argument after keyword in {text!r}")
        else:
            args.append(value)
        pos = m.end()
    return args, kwargs


class Rule:
    """One URL pattern bound to an endpoint and a set of methods."""

    __slots__ = (
        "rule", "endpoint", "methods", "defaults", "strict_slashes", "arg_names",
        "converters", "segments", "payload", "_build_parts", "single_arg",
    )

    def __init__(self, rule: str, endpoint: Any = None, methods: Any = None, defaults: dict | None = None,
                 strict_slashes: bool = True) -> None:
        if not rule.startswith("/"):
            raise ValueError(f"rule {rule!r} must start with '/'")
        self.rule = rule
        self.endpoint = endpoint
        if methods is None:
            methods = ("GET",)
        if isinstance(methods, str):
            raise TypeError("methods must be a list of strings, not a string")
        self.methods = frozenset(m.upper() for m in methods)
        self.defaults = dict(defaults) if defaults else None
        self.strict_slashes = strict_slashes
        #: Whatever the owner attaches (the app stores its dispatch target).
        self.payload: Any = None
        self.segments: list[Segment] = []
        self.arg_names: tuple[str, ...] = ()
        self.single_arg: str | None = None
        self.converters: dict[str, BaseConverter] = {}
        self._build_parts: list[Part] = []

    def bind(self, converter_map: dict[str, type[BaseConverter]]) -> Rule:
        """Parse the rule text using ``converter_map`` (name -> class)."""
        names: list[str] = []
        segments: list[Segment] = []
        build: list[Part] = []
        for text in self.rule[1:].split("/"):
            parts: Segment = []
            pos = 0
            for m in _VAR.finditer(text):
                if m.start() > pos:
                    parts.append(text[pos:m.start()])
                conv_name = m.group("conv") or "default"
                try:
                    conv_cls = converter_map[conv_name]
                except KeyError:
                    raise LookupError(f"rule {self.rule!r} uses unknown converter {conv_name!r}") from None
                args, kwargs = _parse_args(m.group("args"))
                conv = conv_cls(*args, **kwargs)
                if not hasattr(conv, "_fullmatch"):
                    conv._compile()
                name = m.group("name")
                if name in names:
                    raise ValueError(f"rule {self.rule!r} names {name!r} twice")
                names.append(name)
                self.converters[name] = conv
                parts.append((name, conv))
                pos = m.end()
            if pos < len(text):
                tail = text[pos:]
                if "<" in tail or ">" in tail:
                    raise ValueError(f"malformed variable in rule {self.rule!r} near {tail!r}")
                parts.append(tail)
            if not parts:
                parts.append("")
            segments.append(parts)
            if build:
                build.append("/")
            for p in parts:
                if type(p) is str:
                    build.append(quote(p, safe="!$&'()*+,;=:@-._~"))
                else:
                    build.append(p)
        self.segments = segments
        self.arg_names = tuple(names)
        # The common one-variable rule skips dict(zip(...)) per match.
        self.single_arg = names[0] if len(names) == 1 else None
        self._build_parts = ["/", *build]
        if self.defaults:
            overlap = set(self.defaults) & set(names)
            if overlap:
                raise ValueError(f"rule {self.rule!r}: defaults {sorted(overlap)} are also URL variables")
        return self

    @property
    def is_static(self) -> bool:
        return not self.arg_names

    def __repr__(self) -> str:
        methods = ", ".join(sorted(self.methods))
        return f"<Rule {self.rule!r} ({methods}) -> {self.endpoint}>"

    def build(self, values: dict[str, Any]) -> tuple[str, set[str]]:
        """Return (path, names used) or raise KeyError/ValueError."""
        out = []
        used = set()
        for part in self._build_parts:
            if type(part) is str:
                out.append(part)
            else:
                name, conv = part
                out.append(conv.to_url(values[name]))
                used.add(name)
        return "".join(out), used


def part_key(p: Part) -> Any:
    """What makes two parts the same for matching: the text, or the converter's kind and arguments."""
    return p if type(p) is str else (type(p[1]), p[1].identity[1])


def segments_text(segments: list[Segment]) -> str:
    """The rule text of some segments, variables shown as ``<name>``."""
    return "/".join("".join(p if type(p) is str else f"<{p[0]}>" for p in parts) for parts in segments)


def mixed_regex(parts: Segment, start: int = 0) -> str:
    """The regex of one segment's parts; converter groups are named a<start>, a<start+1>, ..."""
    out = []
    i = start
    for p in parts:
        if type(p) is str:
            out.append(re.escape(p))
        else:
            out.append(f"(?P<a{i}>{p[1].regex})")
            i += 1
    return "".join(out)


def tail_regex(segments: list[Segment]) -> str:
    """The regex of several segments, with group numbers running on across them."""
    out = []
    i = 0
    for parts in segments:
        out.append(mixed_regex(parts, i))
        i += sum(1 for p in parts if type(p) is not str)
    return "/".join(out)


def tail_converters(segments: list[Segment]) -> list[tuple[str, BaseConverter]]:
    return [p for parts in segments for p in parts if type(p) is tuple]
