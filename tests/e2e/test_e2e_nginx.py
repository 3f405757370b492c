"""End to end behind a real nginx: load-balanced over two hatchway instances, one drained mid-run."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

APP = """
import json, os

def app(environ, start_response):
    body = json.dumps({"who": os.environ["INSTANCE"], "remote": environ["REMOTE_ADDR"],
                       "xff": environ.get("HTTP_X_FORWARDED_FOR")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""

CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log info;
{user}
events {{ worker_connections 512; }}
http {{
    access_log {dir}/nginx-access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream hatchway {{
        server unix:{sock1} max_fails=0;
        server unix:{sock2} max_fails=0;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://hatchway;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_503;
        }}
    }}
}}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nginx(workdir, kit):
    procs = []

    def start(sock1, sock2):
        port = _free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(CONF.format(dir=workdir, sock1=sock1, sock2=sock2, port=port,
                                    user="user root;" if os.geteuid() == 0 else ""))
        log = open(workdir / "nginx-stderr.txt", "w")
        proc = subprocess.Popen([NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx-error.log")],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        procs.append((proc, log))

        def up():
            if proc.poll() is not None:
                raise AssertionError((workdir / "nginx-stderr.txt").read_text() +
                                     (workdir / "nginx-error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                return True
            except OSError:
                return False

        kit.wait_for(up, what="nginx to listen")
        return port

    try:
        yield start
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGQUIT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            log.close()


def test_nginx_balances_two_instances_and_one_drains_without_errors(start_server, write_app, nginx, kit, workdir):
    write_app(APP)
    sock1, sock2 = workdir / "h1.sock", workdir / "h2.sock"
    common = ("--workers", "1", "--drain-delay", "1", "--health-path", "/-/ready", "--forwarded-allow-ips", "unix")
    h1 = start_server("-b", f"unix:{sock1}", *common, env={"INSTANCE": "h1"}).ready(workers=1)
    start_server("-b", f"unix:{sock2}", *common, env={"INSTANCE": "h2"}).ready(workers=1)
    port = nginx(sock1, sock2)

    def who():
        return {json.loads(body)["who"] for _, body in client.bodies}

    with kit.LoadClient(port, threads=4, max_seconds=90) as client:
        kit.wait_for(lambda: who() == {"h1", "h2"} or client.errors, what="both instances to serve")
        h1.signal(signal.SIGTERM)
        assert h1.wait_exit() == 0
        gone = time.monotonic()
        client.wait_successes(300)
    assert client.errors == [], client.errors[:5]
    assert {json.loads(body)["who"] for when, body in client.bodies if when > gone} == {"h2"}
    assert not sock1.exists()  # the supervisor removed its socket file

    # nginx's X-Forwarded-For reaches the app as REMOTE_ADDR: the walk from the right stops at the
    # first untrusted hop, the client nginx saw, not at what that client wrote itself.
    seen = json.loads(kit.get(port, "/", {"X-Forwarded-For": "198.51.100.7"})[2])
    assert seen == {"who": "h2", "remote": "127.0.0.1", "xff": "198.51.100.7, 127.0.0.1"}
    seen = json.loads(kit.get(port, "/")[2])
    assert seen["remote"] == "127.0.0.1"  # over the unix socket, the peer itself has no address

    # The same header from an untrusted peer (TCP, not the unix socket nginx uses) is dropped.
    direct = start_server("-b", "127.0.0.1:0", "--forwarded-allow-ips", "unix", env={"INSTANCE": "d"},
                          bind=False).ready()
    seen = json.loads(kit.get(direct.port, "/", {"X-Forwarded-For": "198.51.100.7"})[2])
    assert seen == {"who": "d", "remote": "127.0.0.1", "xff": None}
