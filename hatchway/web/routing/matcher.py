"""The compiled matcher: a segment trie walked depth first in a fixed priority order.

Matching works on the path split at "/". Fully static paths are answered by
one dict lookup (the map keeps that table). Everything else walks a segment
trie built as rules are added: at each segment the matcher tries, in this
fixed order,

1. the static child whose text equals the segment,
2. segments mixing text and converters (``v<int:n>``, ``<name>.<ext>``),
   longest literal text first,
3. single-converter segments, by converter priority (uuid, int, any, float,
   bounded string, custom, string),
4. rules whose remainder contains a ``path`` converter.

and backtracks when a branch dead-ends. Which rule wins therefore depends
only on the rules' shapes, never on registration order, and work per request
grows with the number of segments, not the number of rules.

The walk reads only the node fields below and calls only the callables stored
in them, so the explainer can hand it a recording copy of the trie (see
explain.py) and trace the very code that routes requests, at no cost to them.
"""

from __future__ import annotations

import re
from typing import Any

from ..converters import BaseConverter
from .rules import Rule, Segment, mixed_regex, part_key, tail_converters, tail_regex

__all__ = ["Node", "Leaf", "SlashRequired", "insert", "walk", "shape"]


class SlashRequired(Exception):
    """Raised by the matcher when the path needs a trailing slash (308)."""


class Node:
    __slots__ = (
        "static", "dynamic", "mixed", "tails", "leaf", "only_static",
        "_dyn_keys", "_mixed_keys", "_tail_keys", "_sorted",
    )

    def __init__(self) -> None:
        self.static: dict[str, Node] = {}
        # (fullmatch, to_python or None, child) in priority order
        self.dynamic: tuple = ()
        # (fullmatch, ((group, to_python), ...), child) in priority order
        self.mixed: tuple = ()
        # (fullmatch, ((group, to_python), ...), leaf) in priority order
        self.tails: tuple = ()
        self.leaf: Leaf | None = None
        # True while the node has no converter children: matching then
        # descends without recursion, there being nothing to backtrack to.
        self.only_static = True
        self._dyn_keys: dict[Any, Node] = {}
        self._mixed_keys: dict[Any, Node] = {}
        self._tail_keys: dict[Any, Leaf] = {}
        self._sorted: dict[str, list] = {}


class Leaf(dict):
    """method -> Rule for one rule shape, plus the rules that share it."""

    __slots__ = ("rules",)

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[Rule] = []


def shape(rule: Rule) -> tuple:
    """Rules with the same shape match the same URLs: same text, same converters in the same places."""
    return tuple(tuple(part_key(p) for p in parts) for parts in rule.segments)


def converter_function(conv: BaseConverter) -> Any:
    """What the matcher calls on a segment: None for identity, else a callable.

    Converters may offer ``fast_to_python`` (e.g. plain ``int``) when their
    regex already guarantees everything ``to_python`` would check.
    """
    if type(conv).to_python is BaseConverter.to_python:
        return None
    return getattr(conv, "fast_to_python", None) or conv.to_python


def insert(root: Node, static: dict[str, Leaf], rule: Rule) -> Leaf:
    """Add the nodes ``rule`` needs below ``root``; return its (new, empty) leaf.

    Converter-free rules are also entered in ``static`` (full path -> leaf).
    """
    node = root
    segments = rule.segments
    for i, parts in enumerate(segments):
        if any(type(p) is tuple and not p[1].part_isolating for p in parts):
            return _insert_tail(node, segments[i:])
        if len(parts) == 1 and type(parts[0]) is str:
            node = node.static.setdefault(parts[0], Node())
        elif len(parts) == 1:
            conv = parts[0][1]
            key = (type(conv), conv.identity[1])
            child = node._dyn_keys.get(key)
            if child is None:
                child = node._dyn_keys[key] = Node()
                entry = (conv._fullmatch, converter_function(conv), child)
                _insert_sorted(node, "dynamic", (conv.priority, repr(conv)), entry)
            node = child
        else:
            key = tuple(part_key(p) for p in parts)
            child = node._mixed_keys.get(key)
            if child is None:
                child = node._mixed_keys[key] = Node()
                convs = tuple((f"a{k}", p[1].to_python) for k, p in enumerate(x for x in parts if type(x) is tuple))
                literal = sum(len(p) for p in parts if type(p) is str)
                entry = (re.compile(mixed_regex(parts)).fullmatch, convs, child)
                _insert_sorted(node, "mixed", (-literal, repr(key)), entry)
            node = child
    if node.leaf is None:
        node.leaf = Leaf()
        if not rule.arg_names:
            static["/" + "/".join(p[0] for p in segments)] = node.leaf
    return node.leaf


def _insert_tail(node: Node, segments: list[Segment]) -> Leaf:
    key = tuple(tuple(part_key(p) for p in parts) for parts in segments)
    leaf = node._tail_keys.get(key)
    if leaf is None:
        leaf = node._tail_keys[key] = Leaf()
        convs = tuple((f"a{k}", p[1].to_python) for k, p in enumerate(tail_converters(segments)))
        literal = sum(len(p) for parts in segments for p in parts if type(p) is str)
        entry = (re.compile(tail_regex(segments)).fullmatch, convs, leaf)
        _insert_sorted(node, "tails", (-literal, len(segments), repr(key)), entry)
    return leaf


def _insert_sorted(node: Node, attr: str, sort_key: tuple, entry: tuple) -> None:
    keyed = node._sorted.setdefault(attr, [])
    keyed.append((sort_key, entry))
    keyed.sort(key=lambda ke: ke[0])
    # A plain tuple: the cheapest thing to iterate per request.
    setattr(node, attr, tuple(e for _, e in keyed))
    node.only_static = False


def walk(node: Any, segs: list[str], i: int, n: int, method: str, vals: list, allowed: list) -> Rule | None:
    """Depth-first match in priority order; returns the Rule or None.

    ``vals`` collects converted values positionally (rules sharing a shape may
    name them differently); ``allowed`` collects the leaves whose path fits
    but whose methods do not, for 405 and OPTIONS. Recursion happens only at
    real branch points: nodes with nothing but static children are descended
    in a loop, and a last segment is checked against its leaf inline.
    """
    while True:
        if i == n:
            leaf = node.leaf
            if leaf is not None:
                rule = leaf.get(method)
                if rule is not None:
                    return rule
                allowed.append(leaf)
            slash = node.static.get("")
            if slash is not None and slash.leaf is not None:
                rule = slash.leaf.get(method)
                if rule is not None:
                    # "/dir" when "/dir/" exists: as in Werkzeug, the static
                    # branch's slash redirect wins over converters further on.
                    if rule.strict_slashes:
                        raise SlashRequired()
                    return rule
            return None
        seg = segs[i]
        i += 1
        child = node.static.get(seg)
        if node.only_static:
            if child is None:
                return None
            node = child
            continue
        if child is not None:
            rule = walk(child, segs, i, n, method, vals, allowed)
            if rule is not None:
                return rule
        break
    if node.mixed:
        for fullmatch, convs, child in node.mixed:
            m = fullmatch(seg)
            if m is None:
                continue
            try:
                got = [to_python(m.group(g)) for g, to_python in convs]
            except ValueError:
                continue
            mark = len(vals)
            vals.extend(got)
            rule = walk(child, segs, i, n, method, vals, allowed)
            if rule is not None:
                return rule
            del vals[mark:]
    for fullmatch, to_python, child in node.dynamic:
        if fullmatch(seg) is None:
            continue
        if to_python is None:
            value = seg
        else:
            try:
                value = to_python(seg)
            except ValueError:
                continue
        if i == n:
            leaf = child.leaf
            if leaf is not None:
                rule = leaf.get(method)
                if rule is not None:
                    vals.append(value)
                    return rule
                allowed.append(leaf)
            continue
        mark = len(vals)
        vals.append(value)
        rule = walk(child, segs, i, n, method, vals, allowed)
        if rule is not None:
            return rule
        del vals[mark:]
    if node.tails:
        rest = "/".join(segs[i - 1:])
        for fullmatch, convs, leaf in node.tails:
            m = fullmatch(rest)
            if m is None:
                continue
            try:
                got = [to_python(m.group(g)) for g, to_python in convs]
            except ValueError:
                continue
            rule = leaf.get(method)
            if rule is not None:
                vals.extend(got)
                return rule
            allowed.append(leaf)
    return None
