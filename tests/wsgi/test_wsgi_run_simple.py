"""run_simple as Werkzeug users call it, in real processes: plain, processes=N, use_reloader."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import requests

from support import ROOT, free_port, wait_for

SCRIPT = textwrap.dedent("""
    import os
    from hatchway import run_simple

    VERSION = {version!r}

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Pid", str(os.getpid()))])
        return [VERSION.encode()]

    if __name__ == "__main__":
        run_simple("127.0.0.1", {port}, app, {kwargs})
""")


def start(tmp_path, port, version="v1", **kwargs):
    script = tmp_path / "serve_me.py"
    script.write_text(SCRIPT.format(version=version, port=port,
                                    kwargs=", ".join(f"{k}={v!r}" for k, v in kwargs.items())))
    log = open(tmp_path / "out.log", "wb")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, script, tmp_path / "out.log"


def get(port):
    try:
        r = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        return r
    except requests.RequestException:
        return None


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


@pytest.mark.slow
def test_run_simple_threaded(tmp_path):
    port = free_port()
    proc, _, _ = start(tmp_path, port, threaded=True)
    try:
        r = wait_for(lambda: get(port), timeout=20, what="server up")
        assert r.status_code == 200 and r.text == "v1"
    finally:
        assert stop(proc) == 0


@pytest.mark.slow
def test_run_simple_processes_forks_workers(tmp_path):
    port = free_port()
    proc, _, _ = start(tmp_path, port, processes=2)
    try:
        pids = set()

        def two_workers():
            r = get(port)
            if r is not None:
                pids.add(r.headers["X-Pid"])
            return len(pids) >= 2

        wait_for(two_workers, timeout=30, what="answers from two worker processes")
        assert str(proc.pid) not in pids  # the supervisor itself serves nothing
    finally:
        assert stop(proc) == 0


@pytest.mark.slow
def test_run_simple_reloader_swaps_code_and_survives_a_broken_edit(tmp_path):
    port = free_port()
    proc, script, log = start(tmp_path, port, use_reloader=True)
    try:
        wait_for(lambda: (r := get(port)) is not None and r.text == "v1", timeout=30, what="v1 serving")
        script.write_text(script.read_text().replace("VERSION = 'v1'", "VERSION = 'v2'"))
        wait_for(lambda: (r := get(port)) is not None and r.text == "v2", timeout=30, what="v2 after edit")
        script.write_text(script.read_text().replace("VERSION = 'v2'", "VERSION = 'v2' +"))  # syntax error
        wait_for(lambda: "reload failed" in log.read_text(errors="replace"), timeout=30, what="failed reload")
        assert get(port).text == "v2"  # the last good code keeps serving
        assert "SyntaxError" in log.read_text(errors="replace")
    finally:
        assert stop(proc) == 0
