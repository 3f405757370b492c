"""examples/kv_server.py: the line-based key-value service, in-process and as a program."""
import os
import signal
import subprocess
import sys

import pytest

from support import DEADLINE, connect, load_module, serving

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "kv_server.py")


@pytest.fixture(scope="module")
def kv():
    return load_module(EXAMPLE, "kv_server_example")


class Client:
    def __init__(self, address):
        self.sock = connect(address)
        self.reader = self.sock.makefile("rb")

    def __call__(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        return self.reader.readline().decode().rstrip("\n")

    def close(self):
        self.reader.close()
        self.sock.close()


@pytest.mark.parametrize("concurrency", ["sync", "threads"])
def test_protocol(kv, concurrency):
    srv = kv.make_server("127.0.0.1:0", concurrency=concurrency, threads=4)
    with serving(srv):
        c = Client(srv.server_address)
        try:
            assert c("GET missing") == "NOT_FOUND"
            assert c("SET greeting hello world") == "OK"
            assert c("GET greeting") == "VALUE hello world"
            assert c("SET a 1") == "OK"
            assert c("KEYS") == "KEYS a greeting"
            assert c("DEL a") == "DELETED"
            assert c("DEL a") == "NOT_FOUND"
            assert c("set lower case") == "OK"  # commands are case-insensitive
            assert c("FROB x") == "ERR unknown command 'FROB'"
            assert c("SET onlykey") == "ERR usage: SET key value"
            assert c("GET two words") == "ERR usage: GET key"
        finally:
            c.close()
        # the store is shared by every connection
        other = Client(srv.server_address)
        try:
            assert other("GET greeting") == "VALUE hello world"
            assert other("QUIT") == "BYE"
            assert other.reader.readline() == b""
        finally:
            other.close()


def test_overlong_line_is_refused_and_the_connection_closed(kv):
    srv = kv.make_server("127.0.0.1:0", concurrency="threads", threads=2)
    with serving(srv):
        c = Client(srv.server_address)
        try:
            c.sock.sendall(b"SET k " + b"v" * (kv.MAX_LINE + 10) + b"\n")
            assert c.reader.readline() == b"ERR line too long\n"
            assert c.reader.readline() == b""
        finally:
            c.close()


def test_as_a_program_stops_on_sigterm(tmp_path):
    sock_path = str(tmp_path / "kv.sock")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, EXAMPLE, "--bind", f"unix:{sock_path}", "--threads", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        banner = proc.stdout.readline().decode()
        assert banner.startswith(f"kv_server listening on unix:{sock_path}"), banner
        c = Client(sock_path)
        try:
            assert c("SET x 42") == "OK"
            assert c("GET x") == "VALUE 42"
        finally:
            c.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE) == 0
        assert not os.path.exists(sock_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(DEADLINE)
        proc.stdout.close()
        proc.stderr.close()
