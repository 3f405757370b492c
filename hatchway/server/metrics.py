"""Prometheus metrics across worker processes, without shared files.

Each worker counts in plain Python ints on its own hot path (`WorkerMetrics`) and ships a compact
snapshot of its cumulative counts to the supervisor once a second, over the status pipe it already
has.  The supervisor (`Registry`) keeps each live worker's latest snapshot and folds a worker's last
one into a retired total when it exits, so a worker that dies loses at most its last second, and
`/metrics` (`MetricsEndpoint`, on the supervisor's own select loop) is the sum across all of them.

Why not prometheus_client: its multiprocess mode is a directory of mmap files per worker pid that
must be wiped between runs and garbage-collected by hand (gunicorn#2738 and friends); the aggregation
is the hard part, and it is ours here.  What is left, the text format, is a few lines (below).
"""
from __future__ import annotations

import json
import logging
import socket
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger("hatchway.error")

DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
METRICS = b"S"  # status-pipe message: S<json>\n
PIPE_BUF = 4096
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"))
CONNECTION_STATES = ("idle", "reading", "active")


class WorkerMetrics:
    """One worker's counters.  Per response, the hot path only records (`raw`, below); `fold` buckets
    the second's records once, in C-level bulk operations, when `snapshot` runs (once a second)."""

    __slots__ = ("requests", "duration", "duration_sum", "queue", "queue_sum", "shed", "raw")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}  # (method, status) -> count
        self.duration = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.queue = [0] * (len(QUEUE_BUCKETS) + 1)
        self.queue_sum = 0.0
        self.shed = 0
        # Four references per response since the last fold, flat: method, status, duration, queue
        # wait (seconds, end - ready and started - ready).  One `extend` per response costs a fraction
        # of counting there (a tuple key, two bisects, two float sums); the flat list slices into
        # columns in C, and sorted columns bucket with one bisect per bound.  extend is atomic under
        # the GIL, so pool threads may record while the loop folds (fold takes a prefix, never swaps
        # the list).
        self.raw: list[Any] = []

    def observe(self, method: str, status: int, duration: float, queue: float) -> None:
        """Count one response at once (the rare paths: engine answers, aborted responses)."""
        key = (method, status)
        requests = self.requests
        n = requests.get(key)
        if n is None:
            if method not in _METHODS:
                key = ("OTHER", status)  # a client must not grow our label set without bound
                n = requests.get(key, 0)
            else:
                n = 0
        requests[key] = n + 1
        self.duration[bisect_left(DURATION_BUCKETS, duration)] += 1
        self.duration_sum += duration
        self.queue[bisect_left(QUEUE_BUCKETS, queue)] += 1
        self.queue_sum += queue

    def fold(self) -> None:
        """Count what `raw` recorded since the last fold."""
        raw = self.raw
        size = len(raw)
        if not size:
            return
        batch = raw[:size]
        del raw[:size]  # what a pool thread appended meanwhile stays for the next fold
        methods, statuses, duration, queue = (batch[i::4] for i in range(4))
        queue.sort()
        if queue[0] < 0.0:
            # A ready stamp later than the app's start (not seen in practice): count from the start,
            # as Observer.exchange always has.
            duration = [d - q if q < 0.0 else d for d, q in zip(duration, batch[3::4])]
            queue = [q if q > 0.0 else 0.0 for q in queue]
        duration.sort()
        self.duration_sum += sum(duration)
        self.queue_sum += sum(queue)
        _bucket(self.duration, DURATION_BUCKETS, duration)
        _bucket(self.queue, QUEUE_BUCKETS, queue)
        requests = self.requests
        n = len(methods)
        first_method, first_status = methods[0], statuses[0]
        if methods.count(first_method) == n and statuses.count(first_status) == n:
            pairs: Mapping[tuple[str, int], int] = {(first_method, first_status): n}  # the usual second
        else:
            pairs = Counter(zip(methods, statuses))
        for key, count in pairs.items():
            if key not in requests and key[0] not in _METHODS:
                key = ("OTHER", key[1])  # a client must not grow our label set without bound
            requests[key] = requests.get(key, 0) + count

    def snapshot(self, conns: Mapping[int, Any]) -> bytes:
        """The status-pipe message: cumulative counts plus the gauges sampled now."""
        self.fold()
        states = [0, 0, 0]
        inflight = 0
        for conn in list(conns.values()):
            state = getattr(conn, "metrics_state", None)
            if state is None:
                continue
            index, busy = state()
            states[index] += 1
            inflight += busy
        data: dict[str, Any] = {
            "r": [[m, s, n] for (m, s), n in self.requests.items()],
            "d": self.duration, "ds": self.duration_sum, "q": self.queue, "qs": self.queue_sum,
            "shed": self.shed, "c": states, "i": inflight,
        }
        message = METRICS + json.dumps(data, separators=(",", ":")).encode() + b"\n"
        if len(message) > PIPE_BUF:
            # One write up to PIPE_BUF is atomic on a pipe; a longer one could interleave with a
            # heartbeat.  Only a wild spread of statuses gets here: fold the rare ones.
            data["r"] = sorted(data["r"], key=lambda item: -item[2])[:100]
            message = METRICS + json.dumps(data, separators=(",", ":")).encode() + b"\n"
        return message


def _bucket(counts: list[int], bounds: Sequence[float], ordered: list[float]) -> None:
    """Add sorted values into per-bucket counts (bucket i: bounds[i-1] < v <= bounds[i], as
    bisect_left(bounds, v) in `observe`): one bisect per bound instead of one per value."""
    below = 0
    for i, bound in enumerate(bounds):
        upto = bisect_right(ordered, bound)
        counts[i] += upto - below
        below = upto
    counts[-1] += len(ordered) - below


def _empty_totals() -> dict[str, Any]:
    return {"r": {}, "d": [0] * (len(DURATION_BUCKETS) + 1), "ds": 0.0, "q": [0] * (len(QUEUE_BUCKETS) + 1),
            "qs": 0.0, "shed": 0}


class Registry:
    """The supervisor's view: live workers' latest snapshots + what retired workers counted."""

    def __init__(self) -> None:
        self.live: dict[int, dict[str, Any]] = {}     # pid -> snapshot dict
        self.gone = _empty_totals()
        self.restarts: dict[str, int] = {}  # reason -> count

    def update(self, pid: int, payload: bytes) -> None:
        try:
            data = json.loads(payload)
            data["r"] = {(m, int(s)): int(n) for m, s, n in data["r"]}
        except (ValueError, KeyError, TypeError):
            log.warning("worker %d sent a malformed metrics snapshot; ignored", pid)
            return
        self.live[pid] = data

    def retire(self, pid: int) -> None:
        data = self.live.pop(pid, None)
        if data is not None:
            _add(self.gone, data)

    def restarted(self, reason: str) -> None:
        self.restarts[reason] = self.restarts.get(reason, 0) + 1

    def totals(self) -> dict[str, Any]:
        total = _empty_totals()
        _add(total, self.gone)
        states = [0, 0, 0]
        inflight = 0
        for data in self.live.values():
            _add(total, data)
            for i, n in enumerate(data.get("c", ())):
                states[i] += n
            inflight += data.get("i", 0)
        total["c"], total["i"] = states, inflight
        return total

    def render(self, workers: int) -> str:
        t = self.totals()
        out: list[str] = []
        _family(out, "hatchway_requests_total", "counter", "Responses sent, by request method and status.")
        for (method, status), n in sorted(t["r"].items()):
            out.append(f'hatchway_requests_total{{method="{_label(method)}",status="{status}"}} {n}')
        _histogram(out, "hatchway_request_duration_seconds", "From the request head to the last byte written.",
                   DURATION_BUCKETS, t["d"], t["ds"])
        _histogram(out, "hatchway_queue_wait_seconds", "From the request head to the application being called.",
                   QUEUE_BUCKETS, t["q"], t["qs"])
        _family(out, "hatchway_connections", "gauge", "Open client connections, by state.")
        for name, n in zip(CONNECTION_STATES, t["c"]):
            out.append(f'hatchway_connections{{state="{name}"}} {n}')
        _family(out, "hatchway_inflight_requests", "gauge", "Requests being answered.")
        out.append(f"hatchway_inflight_requests {t['i']}")
        _family(out, "hatchway_workers", "gauge", "Worker processes alive.")
        out.append(f"hatchway_workers {workers}")
        _family(out, "hatchway_worker_restarts_total", "counter", "Workers replaced, by reason.")
        for reason, n in sorted(self.restarts.items()):
            out.append(f'hatchway_worker_restarts_total{{reason="{_label(reason)}"}} {n}')
        _family(out, "hatchway_shed_total", "counter", "Requests answered 503 for waiting too long (--max-queue-wait).")
        out.append(f"hatchway_shed_total {t['shed']}")
        return "\n".join(out) + "\n"


def _add(into: dict[str, Any], data: dict[str, Any]) -> None:
    requests = into["r"]
    for key, n in data["r"].items():
        requests[key] = requests.get(key, 0) + n
    for name in ("d", "q"):
        into[name] = [a + b for a, b in zip(into[name], data[name])]
    into["ds"] += data["ds"]
    into["qs"] += data["qs"]
    into["shed"] += data.get("shed", 0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(out: list[str], name: str, kind: str, text: str) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")


def _histogram(out: list[str], name: str, text: str, bounds: Sequence[float], counts: list[int], total: float) -> None:
    _family(out, name, "histogram", text)
    running = 0
    for bound, n in zip(bounds, counts):
        running += n
        out.append(f'{name}_bucket{{le="{bound}"}} {running}')
    running += counts[-1]
    out.append(f'{name}_bucket{{le="+Inf"}} {running}')
    out.append(f"{name}_sum {total}")
    out.append(f"{name}_count {running}")


class MetricsEndpoint:
    """GET /metrics on the supervisor's select loop.  One short exchange per connection, each
    bounded by a 0.5 s socket timeout so a stalled scraper cannot hold the supervisor."""

    def __init__(self, sock: socket.socket, render: Callable[[], str]) -> None:
        self.sock = sock
        self.render = render
        sock.setblocking(False)

    @property
    def fd(self) -> int:
        return self.sock.fileno()

    def handle(self) -> None:
        for _ in range(16):
            try:
                conn, _addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("metrics endpoint: accept failed: %s", exc)
                return
            try:
                conn.settimeout(0.5)
                self._answer(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def _answer(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 8192:
            chunk = conn.recv(8192)
            if not chunk:
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].split()
        if len(line) != 3 or line[0] not in (b"GET", b"HEAD"):
            status, body, ctype = "405 Method Not Allowed", b"GET /metrics\n", "text/plain"
        elif line[1].split(b"?")[0] != b"/metrics":
            status, body, ctype = "404 Not Found", b"try /metrics\n", "text/plain"
        else:
            status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
            body = self.render().encode()
        head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n").encode()
        conn.sendall(head + (b"" if line and line[0] == b"HEAD" else body))

    def close(self) -> None:
        self.sock.close()
