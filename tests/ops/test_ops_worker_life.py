"""Workers and their supervisor: they die with it (bug 3); forwarded signals do not kill a booting worker (bug 7)."""
import os
import signal
from pathlib import Path

# An app whose import waits for a file (with a deadline), so the test decides when booting ends.
SLOW_IMPORT_APP = """
import os, time
open("importing-%d" % os.getpid(), "w").close()
_end = time.monotonic() + 60
while not os.path.exists("go") and time.monotonic() < _end:
    time.sleep(0.02)

def app(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def _gone(pid):
    """Exited (or a zombie nobody reaped yet: it serves nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _pending(pid, sig):
    status = Path(f"/proc/{pid}/status").read_text()
    masks = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask & (1 << (sig - 1)) for mask in masks)


def test_workers_exit_when_the_supervisor_is_killed(start_server, pid_app, kit):
    srv = start_server("--workers", "2").ready(workers=2)
    port = srv.port
    workers = srv.children()
    assert len(workers) == 2 and kit.get(port)[0] == 200
    os.kill(srv.pid, signal.SIGKILL)
    srv.proc.wait(10)
    kit.wait_for(lambda: all(_gone(pid) for pid in workers), what="orphaned workers to exit")
    try:
        kit.get(port, timeout=2)
        served = True
    except OSError:
        served = False
    assert not served, "the port is still served after the supervisor died"


def test_booting_worker_exits_when_the_supervisor_is_killed(start_server, write_app, workdir, kit):
    write_app(SLOW_IMPORT_APP)
    srv = start_server("--workers", "1")
    marker = kit.wait_for(lambda: list(workdir.glob("importing-*")), what="the worker to start importing")
    worker = int(marker[0].name.split("-")[1])
    os.kill(srv.pid, signal.SIGKILL)
    srv.proc.wait(10)
    kit.wait_for(lambda: _gone(worker), what="the booting orphan to exit")


def test_signals_forwarded_to_a_booting_worker_do_not_kill_it(start_server, write_app, workdir, kit):
    write_app(SLOW_IMPORT_APP)
    srv = start_server("--workers", "1")
    marker = kit.wait_for(lambda: list(workdir.glob("importing-*")), what="the worker to start importing")
    worker = int(marker[0].name.split("-")[1])
    srv.signal(signal.SIGUSR1)  # logrotate: the supervisor forwards it to every worker
    srv.wait_log(r"SIGUSR1: reopening log files")
    os.kill(worker, signal.SIGTTOU)  # a stray job-control signal must not stop it either
    kit.wait_for(lambda: not _pending(worker, signal.SIGUSR1) and not _pending(worker, signal.SIGTTOU),
                 what="the signals to be delivered")
    (workdir / "go").touch()
    srv.ready(workers=1)
    assert srv.ready_workers() == [worker]
    assert kit.get(srv.port)[2] == str(worker).encode()
    assert "died" not in srv.log()
