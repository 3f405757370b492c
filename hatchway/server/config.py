"""Every knob of the server in one flat record.  docs/architecture.md explains each default."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass
class ServerConfig:
    # Concurrency.
    # threads: how many threads may be inside the app at once.  0: the app runs inline on the event
    # loop, always (pure inline).  N > 0 with concurrency "auto" (the default): the app still runs
    # inline on the loop, and a request that stalls longer than stall_interval hands the loop to one
    # of N standby threads ("stall hand-off", docs/architecture.md).  N > 0 with concurrency "pool":
    # every request is handed to a pool of N threads.  8 covers typical blocking apps (a database or
    # HTTP call per request) on a small machine without letting a stuck dependency pile up hundreds
    # of threads; raise it for apps that block longer.
    threads: int = 8
    concurrency: str = "auto"        # "auto" (stall hand-off) | "pool"; ignored when threads == 0
    stall_interval: float = 0.002    # auto: a request inline longer than about this is handed off
    max_connections: int = 4096      # per worker; when full, idle keep-alive connections are evicted
    backlog: int = 2048

    # Timeouts (seconds), all on by default.
    header_timeout: float = 10.0     # the whole request head; dripped bytes do not extend it
    keepalive_timeout: float = 620.0 # idle between requests; outlasts ALB (60), nginx (60), GCLB (600)
    body_timeout: float = 10.0       # grace before body_min_rate applies
    body_min_rate: float = 500.0     # bytes/s a request body must average after the grace
    write_timeout: float = 30.0      # no write progress to a slow reader for this long -> close
    graceful_timeout: float = 30.0   # shutdown waits this long for in-flight requests
    linger_timeout: float = 2.0      # after an error response, how long unread input is discarded
    drain_grace: float = 1.0         # draining: an idle keep-alive connection is closed once idle this long

    # HTTP limits.
    max_target_size: int = 8192
    max_header_count: int = 100
    max_header_size: int = 65536      # the whole head
    max_field_size: int = 0           # one header field, name + value (gunicorn's limit_request_field_size); 0: off
    max_body_size: int = 1 << 30
    max_pipelined: int = 64
    max_drain: int = 1 << 20          # unread body bytes discarded to keep a connection alive
    body_spill_size: int = 1 << 20    # buffered body bytes held in memory before spilling to a temp file

    # Identity and logging.
    server_header: str = "hatchway"
    access_log: bool = False
    access_log_format: str = "combined"  # "combined", "json" or a {field} template (wsgi/logformat.py)
    request_id: bool = False          # X-Request-ID taken from a trusted proxy or made, and echoed
    server_timing: bool = False       # Server-Timing: queue;dur=..., app;dur=...
    metrics: bool = False             # count requests for the supervisor's /metrics (--metrics-bind)
    url_scheme: str | None = None     # None: "https" with TLS, else "http"

    # Operations (docs/operations.md).  All off by default except trusting a proxy on loopback.
    drain_delay: float = 0.0          # on SIGTERM keep serving (readiness 503) this long before accepting stops
    health_path: str | None = None    # readiness path: 200 while serving, 503 while draining
    request_timeout: float = 0.0      # a request in the app longer than this gets its stack logged (0: off)
    hard_timeout: float = 0.0         # ... and past this the worker is recycled (needs a supervisor; 0: off)
    max_requests: int = 0             # recycle a worker after about this many requests (0: off)
    max_requests_jitter: int = 0      # plus a random 0..jitter, so workers do not recycle together
    max_queue_wait: float = 0.0       # shed (503) requests that waited longer than this for a thread (0: off)
    forwarded_allow_ips: str = "127.0.0.1"  # peers whose Forwarded/X-Forwarded-* headers are applied
    forwarded_headers: str = "x-forwarded"  # the family those proxies set; the other is always stripped
    proxy_allow_ips: str = "127.0.0.1"      # peers allowed to send a PROXY protocol header (--proxy-bind)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def updated(self, **options: Any) -> ServerConfig:
        unknown = set(options) - set(self.names())
        if unknown:
            raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)

    def __post_init__(self) -> None:
        if self.concurrency not in CONCURRENCY_MODES:
            raise ValueError(f"concurrency must be one of {', '.join(CONCURRENCY_MODES)}, not {self.concurrency!r}")

    @property
    def mode(self) -> str:
        """What the worker runs: "inline" (threads == 0), "auto" (stall hand-off) or "pool"."""
        return "inline" if self.threads <= 0 else self.concurrency


CONCURRENCY_MODES = ("auto", "pool")
