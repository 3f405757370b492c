"""URL routing, split as Werkzeug splits its own:

- ``rules``: parsing a rule string into segments of text and converters;
- ``matcher``: the compiled segment trie and the walk that matches a path;
- ``map``: the rule table (``Router``): match, slash redirects, methods, URL building;
- ``explain``: ``Router.explain``, a recorded run of the real matcher;
- ``exceptions``: the errors of building the table and building URLs.

Converters live in ``hatchway.web.converters`` and the HTTP answers of a
failed match (404, 405, 308) in ``hatchway.web.exceptions``.
"""

from .exceptions import BuildError, RoutingConflict
from .explain import Explanation
from .map import Match, Router
from .rules import Rule

__all__ = ["Rule", "Router", "RoutingConflict", "BuildError", "Match", "Explanation"]
