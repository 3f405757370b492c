"""Start-up regressions: the default bind only without another listener; --forwarded-allow-ips checked up front."""
import re
import socket

import pytest


def _listening_lines(srv):
    srv.wait_log(r"listening on")
    return re.findall(r"listening on (\S+)", srv.log())


def test_proxy_bind_alone_opens_no_default_listener(start_server, pid_app):
    srv = start_server("--proxy-bind", "127.0.0.1:0", bind=False).ready()
    lines = _listening_lines(srv)
    assert len(lines) == 1 and "8000" not in lines[0], lines
    assert "with PROXY protocol" in srv.log()


def test_fd_alone_opens_no_default_listener(start_server, pid_app, kit):
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        srv = start_server("--fd", str(sock.fileno()), "--workers", "1", bind=False,
                           pass_fds=(sock.fileno(),)).ready(workers=1)
        lines = _listening_lines(srv)
        assert len(lines) == 1 and "8000" not in lines[0], lines
        assert kit.get(sock.getsockname()[1])[0] == 200
    finally:
        sock.close()


@pytest.mark.parametrize("how", ["cli", "env", "toml"])
@pytest.mark.parametrize("workers", ["0", "2"])
def test_bad_forwarded_allow_ips_is_one_line_and_exit_2(start_server, pid_app, workdir, how, workers):
    args, env = ["--workers", workers], None
    if how == "cli":
        args += ["--forwarded-allow-ips", "127.0.0.1, 10.0.0.300"]
    elif how == "env":
        env = {"HATCHWAY_FORWARDED_ALLOW_IPS": "10.0.0.300"}
    else:
        (workdir / "h.toml").write_text('forwarded-allow-ips = "10.0.0.0/33"\n')
        args += ["--config", "h.toml"]
    srv = start_server(*args, env=env)
    assert srv.wait_exit() == 2
    err = srv.stderr().strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("hatchway: error:") and "forwarded" in err.lower() and "Traceback" not in err, err
    assert "worker" not in srv.log()
