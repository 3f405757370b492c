"""A worker after start-up carries only what serving needs (issue 8: <= 20 MiB of RSS).

A real `hatchway serve` process answers a real request with the modules it holds and its RSS.
The 20 MiB target itself is reported by bench/worker_rss.py: RSS depends on the Python build,
so the test bounds it loosely and checks the deterministic part, which modules are loaded.
"""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

from support import ROOT, free_port, wait_for

APP = '''
import json, sys

NAMES = ("tomllib", "ctypes", "encodings.idna", "ssl", "email", "http.client", "hatchway.server.stream",
         "hatchway.server.stream_handlers", "hatchway.server.prefork", "hatchway.web")

def app(environ, start_response):
    with open("/proc/self/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    body = json.dumps({"loaded": [n for n in NAMES if n in sys.modules], "rss_kib": rss}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
'''


def test_a_started_worker_loads_none_of_the_extras(tmp_path):
    (tmp_path / "memapp.py").write_text(APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hatchway", "serve", "memapp:app", "--bind", f"127.0.0.1:{port}"],
                            cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"},
                            stderr=subprocess.DEVNULL)

    def answer():
        try:
            return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10))
        except OSError:
            return None

    try:
        got = wait_for(answer, timeout=30, what="an answer")
        # tomllib (with datetime) ~1.4 MiB, ctypes ~0.5, the idna codec ~0.4: none is needed to serve.
        assert got["loaded"] == [], got
        assert got["rss_kib"] < 24 * 1024, got  # loose: the 20 MiB target is bench/worker_rss.py's
    finally:
        proc.terminate()
        proc.wait(10)
