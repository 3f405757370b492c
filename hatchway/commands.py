"""Subcommands beside `hatchway serve`: `hatchway routes module:app [--explain PATH]`."""
from __future__ import annotations

import sys


def routes_table(app) -> str:
    """One line per rule: methods, rule, endpoint (sorted by rule), under a header."""
    rows = []
    for rule in app.routes:
        methods = set(rule.methods)
        if "GET" in methods:
            methods.add("HEAD")
        rows.append((", ".join(sorted(methods)), rule.rule, rule.endpoint or ""))
    rows.sort(key=lambda r: (r[1], r[0]))
    head = ("Methods", "Rule", "Endpoint")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def routes(args) -> int:
    from .loading import AppLoadError, load_app

    try:
        app = load_app(args.app)
    except AppLoadError as exc:
        return _fail(str(exc))
    except Exception as exc:  # the app's module raised on import
        return _fail(f"importing {args.app!r} failed: {type(exc).__name__}: {exc}")
    table = getattr(app, "routes", None)
    if table is None or not hasattr(table, "explain"):
        return _fail(f"{args.app!r} is not a hatchway.web App (it has no route table)")
    if args.explain is not None:
        path = args.explain if args.explain.startswith("/") else "/" + args.explain
        print(table.explain(path, args.method.upper()))
        return 0
    if not len(table):
        print("no routes")
        return 0
    print(routes_table(app))
    return 0


def _fail(message: str) -> int:
    print(f"hatchway: error: {message}", file=sys.stderr)
    return 2
