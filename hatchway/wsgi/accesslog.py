"""The access logger.  Lines are made by wsgi/observe.py (when and what) and wsgi/logformat.py (how:
combined, json or a template); they go through stdlib logging so handlers, files and rotation
(SIGUSR1) stay the operator's choice."""
from __future__ import annotations

import logging

access_log = logging.getLogger("hatchway.access")
