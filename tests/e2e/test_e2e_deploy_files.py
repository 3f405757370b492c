"""The files in deploy/ are exercised, not just shipped: their command lines parse with hatchway's own
parser, their numbers agree, the systemd pair runs under systemd-socket-activate and the nginx site
runs in a real nginx in front of a real hatchway."""
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from hatchway.cli import build_parser, settle

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _settings(argv):
    args = build_parser().parse_args(argv)
    assert args.command == "serve"
    values, _ = settle(args, {})
    return values


def _unit(name):
    out = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _service_argv():
    argv = shlex.split(_unit("hatchway.service")["ExecStart"])
    assert argv[0].endswith("/hatchway")
    return argv[1:]


def test_every_shipped_command_line_parses_and_the_timeouts_agree():
    service = _settings(_service_argv())
    assert float(_unit("hatchway.service")["TimeoutStopSec"]) > service["graceful_timeout"] + service["drain_delay"]
    assert service["health_path"] and service["workers"] >= 1
    assert _unit("hatchway.socket")["ListenStream"]

    k8s = (DEPLOY / "kubernetes.yaml").read_text()
    args = json.loads(re.search(r"^\s*args: (\[.*\])$", k8s, re.M).group(1))  # a flow list is JSON
    pod = _settings(args)
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", k8s).group(1))
    assert grace > pod["drain_delay"] + pod["graceful_timeout"]
    assert pod["drain_delay"] >= 2  # endpoints removal reaches every node while the pod still serves
    readiness = re.search(r"readinessProbe:\s*\n\s*httpGet: \{path: (\S+), port: http\}", k8s).group(1)
    assert readiness == pod["health_path"]
    assert f'containerPort: {pod["bind"][0].rsplit(":", 1)[1]}' in k8s
    assert f'containerPort: {pod["metrics_bind"].rsplit(":", 1)[1]}' in k8s

    docker = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", docker, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", docker, re.M).group(1))
    assert entry == ["hatchway"]
    image = _settings(cmd)
    assert image["bind"] == ["0.0.0.0:8000"] and image["health_path"]


def test_systemd_socket_pair_under_systemd_socket_activate(start_server, pid_app, kit, workdir):
    """The service's own ExecStart, on a socket handed over like hatchway.socket would (LISTEN_FDS)."""
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate is missing: scripts/install-tools.sh installs it"
    port = kit.free_port()
    argv = _service_argv()
    # This machine's stand-ins: two workers, a free metrics port, no user switch (not in argv anyway).
    argv[argv.index("--workers") + 1] = "2"
    argv[argv.index("--metrics-bind") + 1] = "127.0.0.1:0"
    argv[argv.index("--access-log") + 1] = str(workdir / "access.log")
    assert argv[:2] == ["serve", "app:app"]
    env = kit.server_env()
    prefix = [activate, "-l", f"127.0.0.1:{port}"]
    for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PATH"):
        prefix += ["-E", f"{name}={env.get(name, '')}"]
    srv = start_server(*argv[2:], app_spec="app:app", bind=False, argv_prefix=tuple(prefix))

    def answered():
        try:
            return kit.get(port, "/-/ready", timeout=5)[0] == 200
        except OSError:
            return False

    kit.wait_for(answered, what="the socket-activated service to answer")
    srv.ready(workers=2)
    assert re.search(r"listening on http://127\.0\.0\.1:%d" % port, srv.log()), srv.log()
    assert "8000" not in srv.log()  # the inherited socket replaces the default bind
    status, _, body = kit.get(port, "/")
    assert status == 200 and body.startswith(b"v1 ")
    kit.wait_for(lambda: any(json.loads(line)["path"] == "/" for line in
                             (workdir / "access.log").read_text().splitlines()), what="the JSON access line")
    pid_app("v2")
    srv.signal(signal.SIGHUP)  # ExecReload
    kit.wait_for(lambda: kit.get(port, "/")[2].startswith(b"v2 "), what="reloaded code")
    srv.signal(signal.SIGTERM)  # KillSignal
    assert srv.wait_exit() == 0


NGINX_MAIN = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
{user}
events {{ worker_connections 256; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""

ECHO_APP = """
import json

def app(environ, start_response):
    body = json.dumps({"remote": environ["REMOTE_ADDR"], "rid": environ.get("HTTP_X_REQUEST_ID"),
                       "proto": environ["wsgi.url_scheme"], "host": environ.get("HTTP_HOST")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""


@pytest.mark.slow
@pytest.mark.nginx
def test_shipped_nginx_site_in_front_of_hatchway(start_server, write_app, kit, workdir):
    write_app(ECHO_APP)
    sock = workdir / "hatchway.sock"
    srv = start_server("-b", f"unix:{sock}", "--workers", "1", "--forwarded-allow-ips", "unix",
                       "--request-id", "--health-path", "/-/ready", bind=False).ready(workers=1)
    port = kit.free_port()
    site = (DEPLOY / "nginx-site.conf").read_text()
    assert "listen 80;" in site and "unix:/run/hatchway/hatchway.sock" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/run/hatchway/hatchway.sock", str(sock))
    (workdir / "site.conf").write_text(site)
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_MAIN.format(dir=workdir, user="user root;" if os.geteuid() == 0 else ""))
    log = open(workdir / "nginx-stderr.txt", "w")
    proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx-error.log")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        def up():
            if proc.poll() is not None:
                raise AssertionError((workdir / "nginx-stderr.txt").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return True
            except OSError:
                return False

        kit.wait_for(up, what="nginx with the shipped site")
        status, headers, body = kit.get(port, "/", {"X-Forwarded-For": "198.51.100.7"})
        seen = json.loads(body)
        assert status == 200 and seen["remote"] == "127.0.0.1" and seen["proto"] == "http"
        assert re.fullmatch(r"[0-9a-f]{32}", seen["rid"]) and headers["X-Request-ID"] == seen["rid"]
        assert kit.get(port, "/-/ready")[0] == 200
        # A request held by nginx's upstream keep-alive survives a reload behind it.
        with kit.LoadClient(port, threads=2, max_seconds=60) as client:
            client.wait_successes(50)
            srv.signal(signal.SIGHUP)
            srv.wait_log(r"reload complete")
            client.wait_successes(50)
        assert client.errors == [], client.errors[:3]
    finally:
        os.killpg(proc.pid, signal.SIGQUIT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
