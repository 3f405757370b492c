"""`hatchway serve` as a user meets it: real processes, real sockets, curl and http.client."""
import http.client
import os
import socket
import ssl
import subprocess
import sys

import pytest
import trustme

from support import ROOT, can_connect, free_port, wait_for


def run_cli(*args, timeout=20):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "hatchway", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hatchway: error:") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.slow
def test_bad_app_path_is_one_line_and_exit_2():
    assert "no module named 'no_such_module'" in one_line_error(run_cli("serve", "no_such_module:app"))
    assert "has no attribute" in one_line_error(run_cli("serve", "hatchway.demo:nope"))
    assert "not a name or call" in one_line_error(run_cli("serve", "hatchway.demo:1+"))


@pytest.mark.slow
def test_bad_option_is_one_line_and_exit_2():
    assert "--threads" in one_line_error(run_cli("serve", "--threads", "many"))
    assert "port" in one_line_error(run_cli("serve", "--bind", "127.0.0.1:notaport"))
    one_line_error(run_cli("serve", "--no-such-flag"))


def test_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert "Address already in use" in one_line_error(run_cli("serve", "--bind", f"127.0.0.1:{port}"))


def test_demo_app_with_access_log_and_clean_sigterm(cli):
    port = free_port()
    proc = cli("serve", "--bind", f"127.0.0.1:{port}", "--access-log", "-")
    wait_for(lambda: can_connect(("127.0.0.1", port)), what="server up")
    out = subprocess.run(["curl", "-s", "-i", f"http://127.0.0.1:{port}/json"], capture_output=True, timeout=10)
    assert out.stdout.startswith(b"HTTP/1.1 200 OK")
    assert b'"server": "hatchway"' in out.stdout
    wait_for(lambda: '"GET /json HTTP/1.1" 200' in proc.output(), what="access log line")
    assert proc.stop(15) == 0
    assert "Traceback" not in proc.output()


def test_sigint_stops_cleanly(cli):
    port = free_port()
    proc = cli("serve", "--bind", f"127.0.0.1:{port}")
    wait_for(lambda: can_connect(("127.0.0.1", port)), what="server up")
    assert proc.stop(2) == 0


def test_factory_spec_and_threads(cli, tmp_path):
    (tmp_path / "factoryapp.py").write_text(
        "def create(greeting='hi'):\n"
        "    def app(environ, start_response):\n"
        "        start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [greeting.encode(), b' ', environ['wsgi.multithread'] and b'mt' or b'st']\n"
        "    return app\n")
    port = free_port()
    cli("serve", "factoryapp:create(greeting='hello')", "--bind", f"127.0.0.1:{port}", "--threads", "4",
        cwd=tmp_path)
    wait_for(lambda: can_connect(("127.0.0.1", port)), what="server up")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(3):  # keep-alive reuse
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"hello mt"
    conn.close()


def test_unix_ipv6_and_inherited_fd_listeners(cli, tmp_path):
    path = str(tmp_path / "s.sock")
    inherited = socket.socket()
    inherited.bind(("127.0.0.1", 0))
    inherited.listen()
    fd_port = inherited.getsockname()[1]
    v6 = free_port()
    cli("serve", "--bind", f"unix:{path}", "--bind", f"[::1]:{v6}", "--bind", f"fd://{inherited.fileno()}",
        pass_fds=(inherited.fileno(),))
    inherited.close()
    wait_for(lambda: can_connect(path) and can_connect(("::1", v6)), what="listeners up")
    out = subprocess.run(["curl", "-s", "--unix-socket", path, "http://x/json"], capture_output=True, timeout=10)
    assert b'"path": "/json"' in out.stdout
    out = subprocess.run(["curl", "-s", "-g", f"http://[::1]:{v6}/json"], capture_output=True, timeout=10)
    assert b'"remote_addr": "::1"' in out.stdout
    out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{fd_port}/json"], capture_output=True, timeout=10)
    assert b'"path": "/json"' in out.stdout


def test_tls_from_cert_and_key_files(cli, tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    port = free_port()
    cli("serve", "--bind", f"127.0.0.1:{port}", "--certfile", str(tmp_path / "cert.pem"),
        "--keyfile", str(tmp_path / "key.pem"))
    wait_for(lambda: can_connect(("127.0.0.1", port)), what="server up")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    for _ in range(2):
        conn.request("POST", "/echo", body=b"x" * 100000)
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"x" * 100000
    conn.request("GET", "/json")
    assert b'"server": "hatchway"' in conn.getresponse().read()
    conn.close()


@pytest.mark.slow
def test_python_dash_m_help():
    result = run_cli("serve", "--help")
    assert result.returncode == 0 and "--bind" in result.stdout and "--keep-alive" in result.stdout


def test_access_log_is_off_unless_asked_for(tmp_path):
    """Without --access-log no access record is even formatted (it once halved throughput)."""
    import logging

    from hatchway import cli

    loggers = [logging.getLogger(n) for n in ("hatchway", "hatchway.access")]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    try:
        base = {"log_level": "info", "error_log": str(tmp_path / "e.log")}
        cli._setup_logging({**base, "access_log": None})
        assert not logging.getLogger("hatchway.access").isEnabledFor(logging.INFO)
        cli._setup_logging({**base, "access_log": str(tmp_path / "a.log")})
        assert logging.getLogger("hatchway.access").isEnabledFor(logging.INFO)
    finally:
        for lg, (level, handlers, propagate) in zip(loggers, saved):
            for h in lg.handlers:
                if h not in handlers:
                    h.close()
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
