"""`hatchway serve --handler module:HandlerClass`, as a real process."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from support import DEADLINE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HANDLER_MODULE = '''
import threading

from hatchway.http.server import BaseHTTPRequestHandler

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from %s" % threading.current_thread().name).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):  # the fields as received: names keep their case and any underscore
        body = repr(list(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

class NotAHandler:
    pass
'''


def run_cli(tmp_path, *args):
    (tmp_path / "cli_handlers.py").write_text(HANDLER_MODULE)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "hatchway", "serve", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_serve_handler_class_from_the_cli(tmp_path):
    proc = run_cli(tmp_path, "--handler", "cli_handlers:Hello", "--bind", "127.0.0.1:0")
    try:
        port = None
        deadline = time.monotonic() + DEADLINE
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"the server exited early (code {proc.poll()})"
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+) \(threads=8\)", line)
            if match:
                port = int(match.group(1))
        assert port, "no 'listening on' line"
        with requests.Session() as s:
            for _ in range(2):
                r = s.get(f"http://127.0.0.1:{port}/", timeout=DEADLINE)
                assert r.status_code == 200 and r.text.startswith("hello from ")
                assert "MainThread" not in r.text  # --handler defaults to a thread pool
            fields = s.put(f"http://127.0.0.1:{port}/", headers={"X_Under_Score": "7", "X-MiXeD": "m"},
                           timeout=DEADLINE).text
            assert "('X_Under_Score', '7')" in fields and "('X-MiXeD', 'm')" in fields
            assert s.delete(f"http://127.0.0.1:{port}/", timeout=DEADLINE).status_code == 501
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(DEADLINE)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.slow
def test_cli_refuses_what_is_not_a_handler_class(tmp_path):
    for spec, message in [("cli_handlers:NotAHandler", "expected a hatchway.http.RequestHandler subclass"),
                          ("cli_handlers", "expected module:HandlerClass"),
                          ("cli_handlers:Missing", "has no attribute 'Missing'")]:
        proc = run_cli(tmp_path, "--handler", spec, "--bind", "127.0.0.1:0")
        try:
            _, err = proc.communicate(timeout=DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 2, err
        assert message in err, err
