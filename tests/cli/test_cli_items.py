"""Issue 11's CLI items, each through a real `python -m hatchway` process."""
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]


def server_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HATCHWAY_", "LISTEN_", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_cli(args, cwd, env=None, timeout=30):
    return subprocess.run([sys.executable, "-m", "hatchway", *args], capture_output=True, text=True,
                          timeout=timeout, env=server_env(env), cwd=cwd, stdin=subprocess.DEVNULL)


def one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hatchway: error:") and "Traceback" not in result.stderr
    return lines[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_version_and_bare_command_prints_usage(workdir):
    result = run_cli(["--version"], workdir)
    assert result.returncode == 0 and result.stdout.startswith("hatchway 0.1.0"), result
    result = run_cli([], workdir, timeout=10)  # would hang serving the demo if it still did
    assert result.returncode == 2
    assert result.stderr.startswith("usage: hatchway") and "serve" in result.stderr


@pytest.mark.slow
def test_help_shows_defaults_and_gunicorn_short_flags(workdir):
    out = run_cli(["serve", "--help"], workdir).stdout
    flat = " ".join(out.split())
    assert "--keep-alive KEEP_ALIVE" in flat and "(default: 620.0)" in flat
    assert "(default: 127.0.0.1:8000)" in flat and "(default: 30.0)" in flat
    for short in ("-w WORKERS, --workers", "-b BIND, --bind", "-c CONFIG, --config",
                  "-t HEARTBEAT_TIMEOUT, --heartbeat-timeout"):
        assert short in flat, short
    assert "gunicorn's -t/--timeout" in flat


def test_short_w_and_c(start_server, pid_app, kit, workdir):
    (workdir / "h.toml").write_text('health-path = "/-/ready"\n')
    srv = start_server("-w", "2", "-c", "h.toml").ready(workers=2)
    assert kit.get(srv.port, "/-/ready")[0] == 200
    assert len(srv.children()) == 2


def test_short_t_is_the_watchdog_timeout(start_server, write_app, kit):
    write_app("""
        import time
        def app(environ, start_response):
            if environ["PATH_INFO"] == "/stuck":
                time.sleep(30)  # threads=0: this blocks the worker's loop
            start_response("200 OK", [("Content-Length", "2")])
            return [b"ok"]
    """)
    srv = start_server("-w", "1", "--threads", "0", "-t", "1").ready(workers=1)
    port = srv.port
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n")
        srv.wait_log(r"sent no heartbeat for \d+\.\ds")
    srv.wait_log(r"worker \d+ ready.*\n(.|\n)*worker \d+ ready")
    assert kit.get(port)[0] == 200


def test_env_names_follow_the_flags(start_server, pid_app, kit):
    srv = start_server("-w", "0", env={"HATCHWAY_LIMIT_REQUEST_LINE": "100", "HATCHWAY_KEEP_ALIVE": "0.5"}).ready()
    port = srv.port
    assert kit.get(port, "/" + "x" * 200)[0] == 414
    assert kit.get(port, "/short")[0] == 200
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        data = b""
        while True:  # the answer, then EOF once the 0.5 s keep-alive ran out
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")


def test_old_env_name_still_works_with_a_deprecation_line(start_server, pid_app, kit):
    srv = start_server(env={"HATCHWAY_MAX_TARGET_SIZE": "100"}).ready()
    assert kit.get(srv.port, "/" + "x" * 200)[0] == 414
    assert "HATCHWAY_MAX_TARGET_SIZE is deprecated: call it HATCHWAY_LIMIT_REQUEST_LINE" in srv.log()


@pytest.mark.slow
def test_unknown_hatchway_variable_is_one_line_and_exit_2(workdir, pid_app):
    line = one_line_error(run_cli(["serve", "app:app", "-b", "127.0.0.1:0"], workdir, {"HATCHWAY_THREDS": "4"}))
    assert "unknown environment variable HATCHWAY_THREDS" in line and "HATCHWAY_THREADS" in line
    line = one_line_error(run_cli(["serve", "app:app", "-w", "2", "-b", "127.0.0.1:0"], workdir,
                                  {"HATCHWAY_KEEP_ALIVE": "5", "HATCHWAY_KEEPALIVE_TIMEOUT": "6"}))
    assert "HATCHWAY_KEEP_ALIVE" in line


def test_the_build_variable_is_not_a_server_setting(workdir, pid_app):
    # HATCHWAY_COMPILE is read by `pip install .` (docs/build.md); a shell that exported it can still serve.
    line = one_line_error(run_cli(["serve", "app:app", "-b", "127.0.0.1:0"], workdir,
                                  {"HATCHWAY_COMPILE": "mypyc", "HATCHWAY_THREDS": "4"}))
    assert "HATCHWAY_THREDS" in line and "HATCHWAY_COMPILE" not in line


def test_bare_port_binds_loopback(start_server, pid_app, kit):
    port = free_port()
    srv = start_server("--bind", str(port), bind=False).ready()
    assert f"listening on http://127.0.0.1:{port}" in srv.log()
    assert kit.get(port)[0] == 200


@pytest.mark.slow
def test_metrics_bind_needs_host_and_port_or_port(workdir, pid_app):
    line = one_line_error(run_cli(["serve", "app:app", "--metrics-bind", "nonsense"], workdir))
    assert "--metrics-bind" in line or "HOST:PORT" in line


def test_file_path_app_is_accepted_and_a_missing_one_is_one_line(start_server, workdir, kit):
    sub = workdir / "src"
    sub.mkdir()
    (sub / "webapp.py").write_text(textwrap.dedent("""
        def make():
            def app(environ, start_response):
                start_response("200 OK", [("Content-Length", "9")])
                return [b"from file"]
            return app
        application = make()
    """))
    srv = start_server(app_spec="./src/webapp.py").ready()
    assert kit.get(srv.port)[2] == b"from file"
    srv = start_server(app_spec="src/webapp.py:make()").ready()
    assert kit.get(srv.port)[2] == b"from file"
    line = one_line_error(run_cli(["serve", "./nope.py", "-b", "127.0.0.1:0"], workdir))
    assert "no such file './nope.py'" in line
    (sub / "site.py").write_text("app = None\n")  # would silently be the standard library's `site`
    line = one_line_error(run_cli(["serve", "src/site.py", "-b", "127.0.0.1:0"], workdir))
    assert "'site' is already a loaded module" in line


def test_per_field_and_whole_head_limits(start_server, pid_app, kit):
    srv = start_server("--limit-request-field-size", "100", "--limit-request-head-size", "2000").ready()
    port = srv.port
    assert kit.get(port, headers={"X-A": "v" * 90})[0] == 200
    assert kit.get(port, headers={"X-A": "v" * 120})[0] == 431
    many = {f"X-H{i}": "v" * 60 for i in range(40)}  # each field fits, the head does not
    assert kit.get(port, headers=many)[0] == 431
    srv = start_server("--limit-request-field_size", "100").ready()  # gunicorn's spelling
    assert kit.get(srv.port, headers={"X-A": "v" * 120})[0] == 431
    assert kit.get(srv.port, headers=many)[0] == 200


RUN_SIMPLE = """
import sys
from hatchway import run_simple

def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]

run_simple("127.0.0.1", int(sys.argv[1]), app, processes=int(sys.argv[2]))
"""


@pytest.mark.slow
def test_run_simple_settles_the_environment_like_the_cli_for_1_and_2_processes(workdir, kit):
    (workdir / "rs.py").write_text(RUN_SIMPLE)
    for processes in ("1", "2"):
        port = free_port()
        proc = subprocess.Popen([sys.executable, "rs.py", str(port), processes], cwd=workdir,
                                env=server_env({"HATCHWAY_LIMIT_REQUEST_LINE": "100"}),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            def up(port=port):
                try:
                    return kit.get(port, "/", timeout=2)[0] == 200
                except OSError:
                    return False
            kit.wait_for(up, what=f"run_simple(processes={processes}) serving")
            assert kit.get(port, "/" + "x" * 200)[0] == 414, processes
        finally:
            os.killpg(proc.pid, 15)
            assert proc.wait(20) == 0
            proc.stderr.close()


@pytest.mark.slow
def test_library_serve_refuses_a_typo_as_a_one_line_error(workdir):
    code = ("import hatchway\n"
            "try:\n    hatchway.serve(lambda e, s: [], workerz=2)\n"
            "except TypeError as exc:\n    print('TypeError', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30,
                         env=server_env())
    assert "TypeError unknown setting 'workerz'" in out.stdout, out
