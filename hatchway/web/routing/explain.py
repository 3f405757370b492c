"""``Router.explain``: what the matcher did for one request, told rule by rule.

The explainer matches nothing itself. It copies the trie into nodes whose
fields hold recording wrappers around the same callables, points a copy of
the router at that copy and runs the router's own ``lookup``: the walk, the
slash probes and the 405 logic are the code that routes requests. It then
reads the record per rule: how far along the rule's branch the walk got and
what stopped it. Requests never pass through any of this, so the recording
costs them nothing.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import MethodNotAllowed, NotFound, RequestRedirect
from .map import Router
from .rules import Rule, segments_text

__all__ = ["Explanation", "explain"]

# The order the matcher tries a node's children in (matcher.py), for "why not tried".
_ORDER = {"static": 0, "mixed": 1, "convert": 2, "tail": 3}
_ORDER_WHY = {
    "static": "literal text is tried before converters",
    "mixed": "segments mixing text and converters are tried before plain converters, most text first",
    "convert": "single converters are tried by priority",
    "tail": "path converters are tried last, most text first",
}


class Explanation:
    """A readable account of how a path was routed (``str()`` it)."""

    def __init__(self, method: str, path: str, rule: Rule | None, values: dict | None, outcome: str,
                 reasons: list[tuple[Rule, str]], walks: list[_Walk]) -> None:
        self.method = method
        self.path = path
        self.rule = rule
        self.values = values
        self.outcome = outcome
        self.reasons = reasons
        #: The raw record: one walk of the matcher per path tried (the request's, then slash probes).
        self.walks = walks

    @property
    def matched(self) -> bool:
        return self.rule is not None

    def __str__(self) -> str:
        lines = []
        if self.rule is not None:
            lines.append(
                f"{self.method} {self.path} matched rule {self.rule.rule!r} "
                f"(endpoint {self.rule.endpoint!r}) with {self.values!r}"
            )
        else:
            lines.append(f"{self.method} {self.path}: no rule matched ({self.outcome})")
        for rule, why in self.reasons:
            lines.append(f"  {rule.rule!r} -> {rule.endpoint!r}: {why}")
        return "\n".join(lines)

    __repr__ = __str__


# ----------------------------------------------------------------- recording

class _Walk:
    """The events of one matcher run over one path, and what the run returned."""

    __slots__ = ("path", "events", "result")

    def __init__(self, path: str) -> None:
        self.path = path
        self.events: list[tuple] = []
        self.result: Any = None


class _Trace:
    __slots__ = ("walks",)

    def __init__(self) -> None:
        self.walks: list[_Walk] = []

    def add(self, event: tuple) -> None:
        self.walks[-1].events.append(event)


class _TracedNode:
    # The fields matcher.walk reads; reading ``leaf`` means the path ended here.
    __slots__ = ("orig", "static", "dynamic", "mixed", "tails", "only_static", "_leaf", "_trace")

    def __init__(self, orig: Any, trace: _Trace) -> None:
        self.orig = orig
        self._trace = trace
        self.only_static: bool = orig.only_static
        self.static = _Recording("static", orig, trace)
        self.dynamic: tuple = ()
        self.mixed: tuple = ()
        self.tails: tuple = ()
        self._leaf: _Recording | None = None

    @property
    def leaf(self) -> Any:
        self._trace.add(("end", self.orig))
        return self._leaf


class _Recording(dict):
    """A dict of the trie whose ``get`` tells the trace what was looked up where, and what was found.

    Static children (``kind`` "static", at the parent node), a leaf's rules by method ("method", at the
    leaf) and the router's table of exact paths ("table").
    """

    __slots__ = ("kind", "where", "_trace")

    def __init__(self, kind: str, where: Any, trace: _Trace, items: Any = ()) -> None:
        super().__init__(items)
        self.kind = kind
        self.where = where
        self._trace = trace

    def get(self, key, default=None):
        found = dict.get(self, key)
        self._trace.add((self.kind, self.where, key, found))
        return found


class _TracedRouter(Router):
    _trace: _Trace

    def _find(self, method, path, allowed):
        self._trace.walks.append(_Walk(path))
        result = super()._find(method, path, allowed)
        self._trace.walks[-1].result = result
        return result


class _Mirror:
    """Copies the trie with recording wrappers, noting each rule's branch on the way."""

    def __init__(self, trace: _Trace) -> None:
        self.trace = trace
        self.leaves: dict[int, _Recording] = {}
        # id(rule) -> (edges from the root, leaf); an edge is (kind, parent, target, segment index)
        self.branches: dict[int, tuple[list[tuple], Any]] = {}

    def node(self, orig: Any, edges: list[tuple]) -> _TracedNode:
        t = _TracedNode(orig, self.trace)
        d = len(edges)
        for text, child in orig.static.items():
            t.static[text] = self.node(child, [*edges, ("static", orig, child, d)])
        t.mixed = tuple(
            (self._fit(orig, child, fullmatch), self._convs(orig, child, convs),
             self.node(child, [*edges, ("mixed", orig, child, d)]))
            for fullmatch, convs, child in orig.mixed
        )
        t.dynamic = tuple(
            (self._fit(orig, child, fullmatch), to_python and self._conv(orig, child, to_python),
             self.node(child, [*edges, ("convert", orig, child, d)]))
            for fullmatch, to_python, child in orig.dynamic
        )
        t.tails = tuple(
            (self._fit(orig, leaf, fullmatch), self._convs(orig, leaf, convs),
             self.leaf(leaf, [*edges, ("tail", orig, leaf, d)]))
            for fullmatch, convs, leaf in orig.tails
        )
        t._leaf = self.leaf(orig.leaf, edges) if orig.leaf is not None else None
        return t

    def leaf(self, orig: Any, edges: list[tuple]) -> _Recording:
        t = _Recording("method", orig, self.trace, orig)
        self.leaves[id(orig)] = t
        for rule in orig.rules:
            self.branches[id(rule)] = (edges, orig)
        return t

    def _fit(self, parent, target, fullmatch):
        trace = self.trace

        def traced_fullmatch(text):
            m = fullmatch(text)
            trace.add(("convert", parent, target, text, "fit" if m is not None else "nofit"))
            return m
        return traced_fullmatch

    def _conv(self, parent, target, to_python):
        trace = self.trace

        def traced_to_python(text):
            try:
                return to_python(text)
            except ValueError:
                trace.add(("convert", parent, target, text, "rejected"))
                raise
        return traced_to_python

    def _convs(self, parent, target, convs):
        return tuple((group, self._conv(parent, target, to_python)) for group, to_python in convs)


def explain(router: Router, path: str, method: str = "GET") -> Explanation:
    """Run ``router``'s own lookup for ``method path`` on a recording copy of its trie, and tell it."""
    if not router.frozen:
        router.freeze()
    trace = _Trace()
    mirror = _Mirror(trace)
    traced = object.__new__(_TracedRouter)
    traced.__dict__.update(router.__dict__)
    traced._trace = trace
    traced._root = mirror.node(router._root, [])  # type: ignore[assignment]
    exact = ((p, mirror.leaves[id(leaf)]) for p, leaf in router.static.items())
    traced.static = _Recording("table", None, trace, exact)
    trace.walks.append(_Walk(path))
    rule = values = None
    try:
        rule, values = traced.lookup(method, path)
        outcome = "matched"
    except MethodNotAllowed as e:
        outcome = f"405 Method Not Allowed; allowed: {', '.join(e.valid_methods)}"
        if method == "OPTIONS":
            outcome += " (the app answers OPTIONS itself: 200 with that Allow)"
    except RequestRedirect as e:
        outcome = f"308 redirect to {e.new_url!r} (strict slashes)"
    except NotFound:
        outcome = "404 Not Found"
    trace.walks[0].result = (rule, values) if rule is not None and len(trace.walks) == 1 else None
    reader = _Reader(mirror, trace, method)
    reasons = [(r, reader.why(r, rule)) for r in router.rules]
    return Explanation(method, path, rule, values, outcome, reasons, trace.walks)


# ------------------------------------------------------------------- reading

class _Events:
    """One walk's events, indexed by the node, leaf or edge they happened at."""

    def __init__(self, walk: _Walk) -> None:
        self.path = walk.path
        self.segs = walk.path.split("/")
        self.table_answered = False
        self.table_leaf: Any = None
        self.static: dict[int, str] = {}
        self.ended: set[int] = set()
        self.method: dict[int, Any] = {}
        self.convert: dict[tuple[int, int], list[tuple]] = {}
        self.stopped_at: Rule | None = None
        self.ran = False
        events = walk.events
        if events and events[0][0] == "table":
            # The static table is read first; a hit there means the trie is never walked.
            if events[0][3] is not None:
                self.table_leaf = events[0][3].where
                self.table_answered = len(events) > 1 and events[1][3] is not None
                events = events[2:]
            else:
                events = events[1:]
        for ev in events:
            self.ran = True
            kind = ev[0]
            if kind == "static":
                self.static[id(ev[1])] = ev[2]
            elif kind == "end":
                self.ended.add(id(ev[1]))
            elif kind == "method":
                self.method[id(ev[1])] = ev[3]
            else:
                self.convert.setdefault((id(ev[1]), id(ev[2])), []).append(ev)
        self.winner: Rule | None = None
        if walk.result is not None:
            self.winner = walk.result[0]
        else:
            self.winner = None
            # A strict slash rule found at the end of the path stops the walk (matcher.SlashRequired).
            last = next((ev for ev in reversed(events) if ev[0] == "method"), None)
            if last is not None and last[3] is not None and last[3].strict_slashes:
                self.stopped_at = last[3]


class _Reader:
    def __init__(self, mirror: _Mirror, trace: _Trace, method: str) -> None:
        self.mirror = mirror
        self.method = method
        self.main = _Events(trace.walks[0])
        self.probes = [_Events(w) for w in trace.walks[1:]]

    def why(self, rule: Rule, chosen: Rule | None) -> str:
        for probe in self.probes:
            if probe.winner is rule:
                return self._probed(rule, probe, chosen)
        if rule is chosen:
            return "chosen" + (" (exact path, from the static table)" if self.main.table_answered else "")
        if self.main.table_answered:
            if self.mirror.branches[id(rule)][1] is self.main.table_leaf and chosen is not None:
                got = chosen
                return f"same path; for {self.method} it belongs to {got.rule!r} (endpoint {got.endpoint!r})"
            return "not tried: the static table answered the exact path before any walk of the trie"
        return self._along(rule, self.main)

    def _probed(self, rule: Rule, probe: _Events, chosen: Rule | None) -> str:
        how = "with" if probe.path.endswith("/") else "without"
        fits = f"{probe.path!r} (the path {how} its trailing slash) fits"
        if rule is chosen:
            return f"chosen: {fits} and the rule has strict_slashes=False"
        if probe.path.endswith("/"):
            return f"{fits}: the router redirects there (308)"
        return f"{fits}, but the rule keeps strict slashes, so {self.main.path!r} is not its URL"

    def _along(self, rule: Rule, ev: _Events) -> str:
        """Follow ``rule``'s branch through the walk's record; say where and why it stopped."""
        if not ev.ran:
            return f"not tried: {ev.path!r} does not start with '/'"
        edges, leaf = self.mirror.branches[id(rule)]
        n = len(ev.segs)
        k = len(rule.segments)
        by_slash = False
        for kind, parent, target, d in edges:
            i = d + 1
            parts = rule.segments[d]
            if i == n and kind == "static" and parts[0] == "":
                # The path ended where this rule has its trailing slash: the matcher's slash check.
                if ev.static.get(id(parent)) != "":
                    if ev.winner is not None or ev.stopped_at is not None:
                        return self._not_tried(rule, edges, parent, d, ev)
                    return f"the path ends after segment {n - 1}, without this rule's trailing slash"
                by_slash = True
                continue
            if i >= n:
                return f"the path ends after segment {n - 1}; the rule has {k}"
            if kind == "static":
                seg = ev.static.get(id(parent))
                if seg is None:
                    return self._not_tried(rule, edges, parent, d, ev)
                if seg != parts[0]:
                    return f"segment {i} is {seg!r}, rule needs {parts[0]!r}"
                continue
            tried = ev.convert.get((id(parent), id(target)))
            if not tried:
                return self._not_tried(rule, edges, parent, d, ev)
            if kind == "convert":
                shown = f"<{parts[0][0]}> ({type(parts[0][1]).__name__})"
            else:
                text_of = segments_text(rule.segments[d:] if kind == "tail" else [parts])
                shown = f"{text_of!r} ({_converters(rule, d, kind)})"
            text = tried[0][3]
            what = "remainder" if kind == "tail" else f"segment {i}"
            if tried[-1][4] == "nofit":
                return f"{what} {text!r} does not fit {shown}"
            if tried[-1][4] == "rejected":
                return f"{what} {text!r} fits {shown}, but its to_python refused {tried[-1][3]!r}"
        if not by_slash and edges and edges[-1][0] != "tail" and n != k + 1:
            return f"the path has {n - 1} segment(s), the rule {k}"
        if id(leaf) not in ev.method:
            return f"not reached: {ev.path!r} ends elsewhere in the trie"
        got = ev.method[id(leaf)]
        if got is None:
            if by_slash:
                return f"the path lacks this rule's trailing slash, and method {self.method} is not in its methods"
            methods = set(rule.methods) | ({"HEAD"} if "GET" in rule.methods else set())
            return f"path fits but method {self.method} is not in {', '.join(sorted(methods))}"
        if got is not rule:
            return f"path fits; for {self.method} its shape belongs to {got.rule!r} (endpoint {got.endpoint!r})"
        if by_slash and rule.strict_slashes:
            return "the path lacks this rule's trailing slash: the matcher stops and the router redirects (308)"
        return "chosen"

    def _not_tried(self, rule: Rule, edges: list[tuple], parent: Any, d: int, ev: _Events) -> str:
        if ev.stopped_at is not None:
            return f"not tried: the matcher stopped at {ev.stopped_at.rule!r} to redirect to its trailing slash"
        winner = ev.winner
        if winner is None:
            return "not tried"
        w_edges = self.mirror.branches[id(winner)][0]
        mine = next(e for e in edges if e[1] is parent)
        theirs = next((e for e in w_edges if e[1] is parent), None)
        if theirs is None:
            return f"not tried: {winner.rule!r} matched first, where the path ends"
        took = segments_text(winner.segments[d:] if theirs[0] == "tail" else [winner.segments[d]])
        kind = theirs[0] if _ORDER[theirs[0]] < _ORDER[mine[0]] else mine[0]
        why = _ORDER_WHY[kind]
        if kind == mine[0] == theirs[0] == "mixed":
            why = "among segments mixing text and converters, the one with most literal text goes first"
        elif kind == mine[0] == "convert":
            why = f"{_converters(winner, d, kind)} has priority over {_converters(rule, d, kind)}"
        return f"not tried: {winner.rule!r} matched first, through {took!r} at segment {d + 1} ({why})"


def _converters(rule: Rule, d: int, kind: str) -> str:
    segments = rule.segments[d:] if kind == "tail" else [rule.segments[d]]
    return ", ".join(f"<{p[0]}> {type(p[1]).__name__}" for parts in segments for p in parts if type(p) is tuple)
