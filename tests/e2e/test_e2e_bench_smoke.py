"""The benchmark runners still run: one short wrk cell per scenario against hatchway (no timing asserted)."""
import json
import subprocess
import sys

import pytest

from support import ROOT


SIX = ("ka-hello", "close-hello", "ka-json", "post-echo", "stream", "big")


@pytest.mark.slow
@pytest.mark.wrk
def test_server_bench_runner_measures_hatchway_on_every_scenario(tmp_path):
    out = tmp_path / "bench.json"
    # One server is enough to prove the runner (each cell costs a server start and 1 s of wrk; a second
    # hatchway variant doubled the test's 35 s and exercised no other runner code).
    result = subprocess.run(
        [sys.executable, "bench/servers.py", "--quick", "--servers", "hatchway-default",
         "--out", str(out)],  # no --scenarios: the default run is all six
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    data = json.loads(out.read_text())
    cells = data["cells"]
    assert sorted((c["server"], c["scenario"]) for c in cells) == sorted(
        ("hatchway-default", scenario) for scenario in SIX)
    for cell in cells:
        # Every cell carries the server's CPU per request and its p99, measured, not defaulted.
        assert cell["requests"] > 0 and cell["server_cpu_s"] > 0, cell
        assert cell["cpu_us_per_req"] == round(1e6 * cell["server_cpu_s"] / cell["requests"], 2)
        assert cell["latency_ms"]["99"] > 0
    assert "Server CPU per request" in result.stdout and "p99 latency" in result.stdout
    assert "hatchway-default" in result.stdout


@pytest.mark.slow
def test_hot_path_bench_runs():
    result = subprocess.run([sys.executable, "bench/hotpath.py", "--n", "500", "--rounds", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "µs/request" in result.stdout, result.stdout + result.stderr
