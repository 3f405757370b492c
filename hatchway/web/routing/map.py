"""The rule table: adding rules, matching a request, slash redirects, methods, building URLs.

``Router.lookup`` is the per-request entry point (the app binds
``static.get`` and ``lookup_dynamic`` once and calls them directly).
Two rules with the same shape (same literal text and same converters in the
same places) and an overlapping method are a conflict and are refused when
added.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ..converters import DEFAULT_CONVERTERS, BaseConverter
from ..exceptions import MethodNotAllowed, NotFound, RequestRedirect
from .exceptions import BuildError, RoutingConflict
from .matcher import Leaf, Node, SlashRequired, insert, shape, walk
from .rules import Rule

__all__ = ["Router", "Match"]


class Match:
    """What the router found: the rule and the converted URL values."""

    __slots__ = ("rule", "values")

    def __init__(self, rule: Rule, values: dict[str, Any]) -> None:
        self.rule = rule
        self.values = values


class Router:
    """The rule table. ``match`` is the per-request entry point."""

    def __init__(self, converters: dict[str, type[BaseConverter]] | None = None) -> None:
        self.converters = dict(DEFAULT_CONVERTERS)
        if converters:
            self.converters.update(converters)
        self.rules: list[Rule] = []
        self.by_endpoint: dict[Any, list[Rule]] = {}
        self._root = Node()
        # full path -> Leaf, for rules without converters
        self.static: dict[str, Leaf] = {}
        self._shapes: dict[tuple, Leaf] = {}
        self.frozen = False

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    # adding
    def add(self, rule: Rule) -> Rule:
        if self.frozen:
            raise RuntimeError(
                f"cannot add rule {rule.rule!r}: the router is frozen because the app has started serving"
            )
        rule.bind(self.converters)
        key = shape(rule)
        leaf = self._shapes.get(key)
        if leaf is not None:
            clash = rule.methods & set(leaf)
            if clash:
                other = leaf[sorted(clash)[0]]
                raise RoutingConflict(
                    f"rule {rule.rule!r} (endpoint {rule.endpoint!r}) conflicts with "
                    f"{other.rule!r} (endpoint {other.endpoint!r}) for method(s) "
                    f"{', '.join(sorted(clash))}: both match the same URLs"
                )
        else:
            leaf = self._shapes[key] = insert(self._root, self.static, rule)
        for m in rule.methods:
            leaf[m] = rule
        leaf.rules.append(rule)
        self.rules.append(rule)
        self.by_endpoint.setdefault(rule.endpoint, []).append(rule)
        return rule

    def freeze(self) -> None:
        """Finish compiling: add automatic HEAD for GET. Idempotent."""
        if self.frozen:
            return
        for leaf in self._shapes.values():
            if "GET" in leaf and "HEAD" not in leaf:
                leaf["HEAD"] = leaf["GET"]
        self.frozen = True

    # matching
    def match(self, method: str, path: str) -> Match:
        """Return a Match or raise NotFound, MethodNotAllowed or RequestRedirect.

        MethodNotAllowed carries every method the path accepts (plus OPTIONS),
        which is what both the 405 ``Allow`` header and automatic OPTIONS need.
        """
        rule, values = self.lookup(method, path)
        return Match(rule, values)

    def lookup(self, method: str, path: str) -> tuple[Rule, dict[str, Any]]:
        """``match`` without the Match object: a (rule, values) tuple."""
        leaf = self.static.get(path)
        if leaf is not None:
            rule = leaf.get(method)
            if rule is not None:
                return rule, (rule.defaults.copy() if rule.defaults else {})
        return self.lookup_dynamic(method, path)

    def lookup_dynamic(self, method: str, path: str) -> tuple[Rule, dict[str, Any]]:
        """Match rules with converters (callers have already tried ``static``)."""
        allowed: list[Leaf] = []
        segs = path.split("/")
        if not segs[0]:
            # Inlined _find: this is the per-request path for dynamic rules.
            vals: list[Any] = []
            try:
                rule = walk(self._root, segs, 1, len(segs), method, vals, allowed)
            except SlashRequired:
                raise RequestRedirect(path + "/") from None
            if rule is not None:
                single = rule.single_arg
                if single is not None:
                    values = {single: vals[0]}
                else:
                    values = dict(zip(rule.arg_names, vals))  # noqa: B905 (one value per name, by construction)
                if rule.defaults:
                    return rule, {**rule.defaults, **values}
                return rule, values
        if allowed:
            methods = {m for leaf in allowed for m in leaf}
            methods.add("OPTIONS")
            raise MethodNotAllowed(sorted(methods))
        if not path.endswith("/"):
            # "/items" when only "/items/" exists: redirect, keeping the method.
            probe: list[Leaf] = []
            slash = self._find(method, path + "/", probe)
            if slash is not None:
                if not slash[0].strict_slashes:
                    return slash
                raise RequestRedirect(path + "/")
            if probe:
                # The target exists but not for this method; let it say 405.
                raise RequestRedirect(path + "/")
        elif len(path) > 1:
            # "/about/" when only "/about" exists matches only if the rule opted out.
            bare = self._find(method, path[:-1], [])
            if bare is not None and not bare[0].strict_slashes:
                return bare
        raise NotFound()

    def _find(self, method: str, path: str, allowed: list[Leaf]) -> tuple[Rule, dict[str, Any]] | None:
        segs = path.split("/")
        if segs[0]:
            return None
        vals: list[Any] = []
        try:
            rule = walk(self._root, segs, 1, len(segs), method, vals, allowed)
        except SlashRequired:
            # Only reachable for a path without its slash; callers probing
            # "path/" never get here, so "no match" is the honest answer.
            return None
        if rule is None:
            return None
        values = dict(zip(rule.arg_names, vals))  # noqa: B905 (one value per name, by construction)
        if rule.defaults:
            values = {**rule.defaults, **values}
        return rule, values

    def allowed_methods(self, path: str) -> set[str]:
        """Every method some rule accepts for ``path`` (empty if none match)."""
        leaves: list[Leaf] = []
        self._find("\0", path, leaves)
        allowed = {m for leaf in leaves for m in leaf}
        if allowed:
            allowed.add("OPTIONS")
        return allowed

    def explain(self, path: str, method: str = "GET") -> Any:
        """Explain how ``method path`` routes, from a traced run of the matcher (``str()`` it)."""
        from .explain import explain

        return explain(self, path, method)

    # building
    def build(self, endpoint: Any, values: dict[str, Any], method: str | None = None) -> str:
        """Build the path and query string for ``endpoint`` (no script root)."""
        rules = self.by_endpoint.get(endpoint)
        if not rules:
            raise BuildError(f"no endpoint named {endpoint!r}")
        values = {k: v for k, v in values.items() if v is not None}
        problems = []
        for rule in rules:
            if method is not None and method.upper() not in rule.methods:
                continue
            missing = [n for n in rule.arg_names if n not in values]
            if missing:
                problems.append(f"{rule.rule!r} needs {', '.join(missing)}")
                continue
            if rule.defaults and any(k in values and values[k] != v for k, v in rule.defaults.items()):
                problems.append(f"{rule.rule!r} has defaults {rule.defaults!r}")
                continue
            try:
                path, used = rule.build(values)
            except (ValueError, TypeError) as e:
                problems.append(f"{rule.rule!r}: {e}")
                continue
            extra = [
                (k, v) for k, v in values.items()
                if k not in used and not (rule.defaults and k in rule.defaults)
            ]
            if extra:
                path += "?" + urlencode(extra, doseq=True)
            return path
        detail = "; ".join(problems) or "no rule accepts that method"
        raise BuildError(f"could not build a URL for {endpoint!r} with {sorted(values)}: {detail}")
