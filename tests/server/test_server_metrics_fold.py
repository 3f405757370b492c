"""WorkerMetrics records per response and buckets once a second (fold): the counts must equal
counting each response at once (observe), bucket edges included."""
import random

from hatchway.server.metrics import DURATION_BUCKETS, QUEUE_BUCKETS, WorkerMetrics


def _record(m, method, status, duration, queue):
    m.raw.extend((method, status, duration, queue))  # what the connection's hot path appends


def test_fold_equals_observe_with_edges_and_labels():
    rng = random.Random(7)
    values = list(DURATION_BUCKETS) + list(QUEUE_BUCKETS) + [0.0, 1e-7, 20.0]
    rows = []
    for _ in range(3000):
        d = rng.choice(values) if rng.random() < 0.3 else rng.uniform(0, 12)
        q = rng.choice(values) if rng.random() < 0.3 else rng.uniform(0, 2)
        rows.append((rng.choice(["GET", "POST", "BREW", "GET"]), rng.choice([200, 404, 500]), d, q))
    folded, direct = WorkerMetrics(), WorkerMetrics()
    for i, row in enumerate(rows):
        _record(folded, *row)
        direct.observe(*row)
        if i % 997 == 0:
            folded.fold()  # several folds add up
    folded.fold()
    assert folded.requests == direct.requests
    assert ("BREW", 200) not in folded.requests and ("OTHER", 200) in folded.requests
    assert folded.duration == direct.duration and folded.queue == direct.queue
    assert abs(folded.duration_sum - direct.duration_sum) < 1e-6
    assert abs(folded.queue_sum - direct.queue_sum) < 1e-6
    assert folded.raw == []


def test_fold_of_one_kind_and_a_negative_queue():
    m = WorkerMetrics()
    for _ in range(5):
        _record(m, "GET", 200, 0.0005, 0.00002)
    _record(m, "GET", 200, 0.003, -0.001)  # ready after start: counted from the start
    m.fold()
    assert m.requests == {("GET", 200): 6}
    assert m.queue[0] == 6 and sum(m.queue) == 6
    assert m.duration[0] == 5 and m.duration[2] == 1  # 0.003 + 0.001 = 0.004 <= 0.005
    m.fold()  # nothing new: no change
    assert m.requests == {("GET", 200): 6}


def test_snapshot_folds_first():
    import json

    m = WorkerMetrics()
    _record(m, "GET", 200, 0.002, 0.0)
    data = json.loads(m.snapshot({})[1:])
    assert data["r"] == [["GET", 200, 1]] and sum(data["d"]) == 1
