"""Rules, the compiled matcher, URL building and match explanations.

Matching works on the path split at "/". Fully static paths are answered by
one dict lookup. Everything else walks a segment trie built as rules are
added: at each segment the router tries, in this fixed order,

1. the static child whose text equals the segment,
2. segments mixing text and converters (``v<int:n>``, ``<name>.<ext>``),
   longest literal text first,
3. single-converter segments, by converter priority (uuid, int, any, float,
   bounded string, custom, string),
4. rules whose remainder contains a ``path`` converter.

and backtracks when a branch dead-ends. Which rule wins therefore depends
only on the rules' shapes, never on registration order, and work per request
grows with the number of segments, not the number of rules. Two rules with
the same shape (same literal text and same converters in the same places)
and an overlapping method are a conflict and are refused when added.
"""

import re
from urllib.parse import quote, urlencode

from .converters import DEFAULT_CONVERTERS, BaseConverter
from .exceptions import MethodNotAllowed, NotFound, RequestRedirect

__all__ = ["Rule", "Router", "RoutingConflict", "BuildError", "Match", "Explanation"]

_VAR = re.compile(
    r"<(?:(?P<conv>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)>"
)
_ARG = re.compile(
    r"""\s*(?:(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?
    (?P<value>"[^"]*"|'[^']*'|[^,]*?)\s*(?:,|\Z)""",
    re.VERBOSE,
)


class RoutingConflict(ValueError):
    """Two rules would match the same requests; raised when adding the second."""


class BuildError(LookupError):
    """``url_for`` could not build a URL for an endpoint with the given values."""


def _literal(text):
    if text[:1] in "\"'":
        return text[1:-1]
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _parse_args(text):
    args, kwargs = [], {}
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

    def __init__(self, rule, endpoint=None, methods=None, defaults=None, strict_slashes=True):
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
        self.payload = None
        self.segments = None
        self.arg_names = ()
        self.single_arg = None
        self.converters = {}

    def bind(self, converter_map):
        """Parse the rule text using ``converter_map`` (name -> class)."""
        names = []
        segments = []
        build = []
        for text in self.rule[1:].split("/"):
            parts = []
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
        self._build_parts = ["/"] + build
        if self.defaults:
            overlap = set(self.defaults) & set(names)
            if overlap:
                raise ValueError(f"rule {self.rule!r}: defaults {sorted(overlap)} are also URL variables")
        return self

    @property
    def is_static(self):
        return not self.arg_names

    def __repr__(self):
        methods = ", ".join(sorted(self.methods))
        return f"<Rule {self.rule!r} ({methods}) -> {self.endpoint}>"

    # building
    def build(self, values):
        """Return (path, unused values) or raise KeyError/ValueError."""
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

    # explaining
    def diagnose(self, path):
        """Match this rule alone against ``path``: (values, None) or (None, why)."""
        segs = path[1:].split("/") if path.startswith("/") else None
        if segs is None:
            return None, "path does not start with '/'"
        values = {}
        for i, parts in enumerate(self.segments):
            if len(parts) == 1 and type(parts[0]) is tuple and not parts[0][1].part_isolating:
                seg = "/".join(segs[i:])
                name, conv = parts[0]
                if conv._fullmatch(seg) is None:
                    return None, f"<{name}> rejected {seg!r}"
                values[name] = conv.to_python(seg)
                return values, None
            if not all(type(p) is str or p[1].part_isolating for p in parts):
                rx = re.compile(_tail_regex(self.segments[i:]))
                m = rx.fullmatch("/".join(segs[i:]))
                if m is None:
                    return None, f"remainder {'/'.join(segs[i:])!r} does not fit {_segments_text(self.segments[i:])!r}"
                try:
                    values.update(_convert_groups(m, _tail_convs(self.segments[i:])))
                except ValueError:
                    return None, f"a converter rejected {'/'.join(segs[i:])!r}"
                return values, None
            if i >= len(segs):
                return None, f"path has {len(segs)} segment(s), rule needs {len(self.segments)}"
            seg = segs[i]
            if len(parts) == 1 and type(parts[0]) is str:
                if seg != parts[0]:
                    return None, f"segment {i + 1} is {seg!r}, rule needs {parts[0]!r}"
                continue
            if len(parts) == 1:
                name, conv = parts[0]
                if conv._fullmatch(seg) is None:
                    return None, f"segment {i + 1} {seg!r} does not fit <{name}> ({type(conv).__name__})"
                try:
                    values[name] = conv.to_python(seg)
                except ValueError:
                    return None, f"segment {i + 1} {seg!r} rejected by <{name}> ({type(conv).__name__})"
                continue
            rx = re.compile(_mixed_regex(parts))
            m = rx.fullmatch(seg)
            if m is None:
                return None, f"segment {i + 1} {seg!r} does not fit {_segments_text([parts])!r}"
            try:
                values.update(_convert_groups(m, [p for p in parts if type(p) is tuple]))
            except ValueError:
                return None, f"segment {i + 1} {seg!r} rejected by a converter"
        if len(segs) != len(self.segments):
            return None, f"path has {len(segs)} segment(s), rule needs {len(self.segments)}"
        return values, None


def _segments_text(segments):
    out = []
    for parts in segments:
        out.append("".join(p if type(p) is str else f"<{p[0]}>" for p in parts))
    return "/".join(out)


def _mixed_regex(parts, start=0):
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


def _tail_regex(segments):
    """The regex of several segments, with group numbers running on across them."""
    out = []
    i = 0
    for parts in segments:
        out.append(_mixed_regex(parts, i))
        i += sum(1 for p in parts if type(p) is not str)
    return "/".join(out)


def _tail_convs(segments):
    return [p for parts in segments for p in parts if type(p) is tuple]


def _convert_groups(m, convs):
    values = {}
    for i, (name, conv) in enumerate(convs):
        values[name] = conv.to_python(m.group(f"a{i}"))
    return values


def _converter_function(conv):
    """What the matcher calls on a segment: None for identity, else a callable.

    Converters may offer ``fast_to_python`` (e.g. plain ``int``) when their
    regex already guarantees everything ``to_python`` would check.
    """
    if type(conv).to_python is BaseConverter.to_python:
        return None
    return getattr(conv, "fast_to_python", None) or conv.to_python


def _part_key(p):
    return p if type(p) is str else (type(p[1]), p[1].identity[1])


class _Node:
    __slots__ = (
        "static", "dynamic", "mixed", "tails", "leaf", "only_static",
        "_dyn_keys", "_mixed_keys", "_tail_keys", "_sorted",
    )

    def __init__(self):
        self.static = {}
        # (fullmatch, to_python or None, child) in priority order
        self.dynamic = ()
        # (fullmatch, converters, child) in priority order
        self.mixed = ()
        # (fullmatch, converters, leaf) in priority order
        self.tails = ()
        self.leaf = None
        # True while the node has no converter children: matching then
        # descends without recursion, there being nothing to backtrack to.
        self.only_static = True
        self._dyn_keys = {}
        self._mixed_keys = {}
        self._tail_keys = {}
        self._sorted = {}


class _Leaf(dict):
    """method -> Rule for one rule shape, plus the rules that share it."""

    __slots__ = ("rules",)

    def __init__(self):
        super().__init__()
        self.rules = []


class Match:
    """What the router found: the rule and the converted URL values."""

    __slots__ = ("rule", "values")

    def __init__(self, rule, values):
        self.rule = rule
        self.values = values


class Explanation:
    """A readable account of how a path was routed (``str()`` it)."""

    def __init__(self, method, path, rule, values, outcome, reasons):
        self.method = method
        self.path = path
        self.rule = rule
        self.values = values
        self.outcome = outcome
        self.reasons = reasons

    @property
    def matched(self):
        return self.rule is not None

    def __str__(self):
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


class Router:
    """The rule table. ``match`` is the per-request entry point."""

    def __init__(self, converters=None):
        self.converters = dict(DEFAULT_CONVERTERS)
        if converters:
            self.converters.update(converters)
        self.rules = []
        self.by_endpoint = {}
        self._root = _Node()
        # full path -> _Leaf, for rules without converters
        self.static = {}
        self._shapes = {}
        self.frozen = False

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)

    # adding
    def add(self, rule):
        if self.frozen:
            raise RuntimeError(
                f"cannot add rule {rule.rule!r}: the router is frozen because the app has started serving"
            )
        rule.bind(self.converters)
        shape = tuple(tuple(_part_key(p) for p in parts) for parts in rule.segments)
        leaf = self._shapes.get(shape)
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
            leaf = self._insert(rule)
            self._shapes[shape] = leaf
        for m in rule.methods:
            leaf[m] = rule
        leaf.rules.append(rule)
        self.rules.append(rule)
        self.by_endpoint.setdefault(rule.endpoint, []).append(rule)
        return rule

    def _insert(self, rule):
        node = self._root
        segments = rule.segments
        for i, parts in enumerate(segments):
            if any(type(p) is tuple and not p[1].part_isolating for p in parts):
                return self._insert_tail(node, segments[i:])
            if len(parts) == 1 and type(parts[0]) is str:
                node = node.static.setdefault(parts[0], _Node())
            elif len(parts) == 1:
                conv = parts[0][1]
                key = (type(conv), conv.identity[1])
                child = node._dyn_keys.get(key)
                if child is None:
                    child = node._dyn_keys[key] = _Node()
                    entry = (conv._fullmatch, _converter_function(conv), child)
                    sort_key = (conv.priority, repr(conv))
                    _insert_sorted(node, "dynamic", sort_key, entry)
                node = child
            else:
                key = tuple(_part_key(p) for p in parts)
                child = node._mixed_keys.get(key)
                if child is None:
                    child = node._mixed_keys[key] = _Node()
                    convs = tuple((f"a{k}", p[1].to_python) for k, p in enumerate(x for x in parts if type(x) is tuple))
                    literal = sum(len(p) for p in parts if type(p) is str)
                    entry = (re.compile(_mixed_regex(parts)).fullmatch, convs, child)
                    _insert_sorted(node, "mixed", (-literal, repr(key)), entry)
                node = child
        if node.leaf is None:
            node.leaf = _Leaf()
            if not rule.arg_names:
                self.static["/" + "/".join(p[0] for p in segments)] = node.leaf
        return node.leaf

    def _insert_tail(self, node, segments):
        key = tuple(tuple(_part_key(p) for p in parts) for parts in segments)
        leaf = node._tail_keys.get(key)
        if leaf is None:
            leaf = node._tail_keys[key] = _Leaf()
            convs = tuple((f"a{k}", p[1].to_python) for k, p in enumerate(_tail_convs(segments)))
            literal = sum(len(p) for parts in segments for p in parts if type(p) is str)
            entry = (re.compile(_tail_regex(segments)).fullmatch, convs, leaf)
            _insert_sorted(node, "tails", (-literal, len(segments), repr(key)), entry)
        return leaf

    def freeze(self):
        """Finish compiling: add automatic HEAD for GET. Idempotent."""
        if self.frozen:
            return
        for leaf in self._shapes.values():
            if "GET" in leaf and "HEAD" not in leaf:
                leaf["HEAD"] = leaf["GET"]
        self.frozen = True

    # matching
    def match(self, method, path):
        """Return a Match or raise NotFound, MethodNotAllowed or RequestRedirect.

        MethodNotAllowed carries every method the path accepts (plus OPTIONS),
        which is what both the 405 ``Allow`` header and automatic OPTIONS need.
        """
        rule, values = self.lookup(method, path)
        return Match(rule, values)

    def lookup(self, method, path):
        """``match`` without the Match object: a (rule, values) tuple."""
        leaf = self.static.get(path)
        if leaf is not None:
            rule = leaf.get(method)
            if rule is not None:
                return rule, (rule.defaults.copy() if rule.defaults else {})
        return self.lookup_dynamic(method, path)

    def lookup_dynamic(self, method, path):
        """Match rules with converters (callers have already tried ``static``)."""
        allowed = []
        segs = path.split("/")
        if not segs[0]:
            # Inlined _find: this is the per-request path for dynamic rules.
            vals = []
            try:
                rule = _walk(self._root, segs, 1, len(segs), method, vals, allowed)
            except _SlashRequired:
                raise RequestRedirect(path + "/") from None
            if rule is not None:
                single = rule.single_arg
                if single is not None:
                    values = {single: vals[0]}
                else:
                    values = dict(zip(rule.arg_names, vals))
                if rule.defaults:
                    return rule, {**rule.defaults, **values}
                return rule, values
        if allowed:
            methods = {m for leaf in allowed for m in leaf}
            methods.add("OPTIONS")
            raise MethodNotAllowed(sorted(methods))
        if not path.endswith("/"):
            # "/items" when only "/items/" exists: redirect, keeping the method.
            probe = []
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

    def _find(self, method, path, allowed):
        segs = path.split("/")
        if segs[0]:
            return None
        vals = []
        try:
            rule = _walk(self._root, segs, 1, len(segs), method, vals, allowed)
        except _SlashRequired:
            # Only reachable for a path without its slash; callers probing
            # "path/" never get here, so "no match" is the honest answer.
            return None
        if rule is None:
            return None
        values = dict(zip(rule.arg_names, vals))
        if rule.defaults:
            values = {**rule.defaults, **values}
        return rule, values

    def allowed_methods(self, path):
        """Every method some rule accepts for ``path`` (empty if none match)."""
        leaves = []
        self._find("\0", path, leaves)
        allowed = {m for leaf in leaves for m in leaf}
        if allowed:
            allowed.add("OPTIONS")
        return allowed

    # explaining
    def explain(self, path, method="GET"):
        """Explain how ``method path`` routes: ``str()`` of the result reads well."""
        if not self.frozen:
            self.freeze()
        reasons = []
        rule = values = None
        try:
            m = self.match(method, path)
            rule, values = m.rule, m.values
            outcome = "matched"
        except MethodNotAllowed as e:
            outcome = f"405 Method Not Allowed; allowed: {', '.join(e.valid_methods)}"
        except RequestRedirect as e:
            outcome = f"308 redirect to {e.new_url!r} (strict slashes)"
        except NotFound:
            outcome = "404 Not Found"
        for r in self.rules:
            if r is rule:
                reasons.append((r, "chosen"))
                continue
            vals, why = r.diagnose(path)
            if vals is not None:
                if method not in r.methods and not (method == "HEAD" and "GET" in r.methods):
                    why = f"path fits but method {method} is not in {', '.join(sorted(r.methods))}"
                elif rule is not None:
                    why = f"path fits too, but {rule.rule!r} has priority (literal text beats converters, left to right)"
                elif outcome.startswith("308"):
                    why = "path fits, but the redirect to the slash-terminated literal rule wins"
                else:
                    why = "path fits"
            reasons.append((r, why))
        return Explanation(method, path, rule, values, outcome, reasons)

    # building
    def build(self, endpoint, values, method=None):
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


class _SlashRequired(Exception):
    """Raised by the matcher when the path needs a trailing slash (308)."""


def _insert_sorted(node, attr, sort_key, entry):
    keyed = node._sorted.setdefault(attr, [])
    keyed.append((sort_key, entry))
    keyed.sort(key=lambda ke: ke[0])
    # A plain tuple: the cheapest thing to iterate per request.
    setattr(node, attr, tuple(e for _, e in keyed))
    node.only_static = False


def _walk(node, segs, i, n, method, vals, allowed):
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
                        raise _SlashRequired()
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
            rule = _walk(child, segs, i, n, method, vals, allowed)
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
            rule = _walk(child, segs, i, n, method, vals, allowed)
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
        rule = _walk(child, segs, i, n, method, vals, allowed)
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
