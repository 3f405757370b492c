"""The benchmark runners still run: one short wrk cell per scenario against hatchway (no timing asserted)."""
import json
import subprocess
import sys

from support import ROOT


def test_server_bench_runner_measures_hatchway_on_every_scenario(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "bench/servers.py", "--quick", "--servers", "hatchway-t0,hatchway-t8",
         "--scenarios", "ka-hello,close-hello,post-echo,stream,big", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    data = json.loads(out.read_text())
    text = json.dumps(data)
    for scenario in ("ka-hello", "close-hello", "post-echo", "stream", "big"):
        assert scenario in text
    assert "hatchway-t0" in result.stdout and "hatchway-t8" in result.stdout


def test_hot_path_bench_runs():
    result = subprocess.run([sys.executable, "bench/hotpath.py", "--n", "500", "--rounds", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "µs/request" in result.stdout, result.stdout + result.stderr
