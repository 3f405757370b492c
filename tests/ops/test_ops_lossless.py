"""Reload, drain, recycling and scale-down lose nothing, for clients that never retry (issue 11).

The loads are requests.Session loops and raw pipelining sockets, neither retrying anything: every
exception is an error.  Refused new connections after a full SIGTERM are counted apart (there is no
server left to answer them).  Each test is bounded by counts and a deadline, not by sleeps.
"""
import re
import signal

import pytest


def _loads(noretry, port):
    return noretry.SessionLoad(port, threads=2, max_seconds=90), noretry.PipelineLoad(port, threads=2,
                                                                                       max_seconds=90)


@pytest.mark.parametrize("threads", ["4", "0"])
def test_ten_sighups_under_keepalive_load_lose_nothing_and_serve_new_code(start_server, pid_app, noretry, kit,
                                                                          threads):
    srv = start_server("--workers", "2", "--threads", threads).ready(workers=2)
    port = srv.port
    sessions, pipes = _loads(noretry, port)
    with sessions, pipes:
        sessions.wait_successes(50)
        pipes.wait_successes(200)
        for i in range(1, 11):
            pid_app(f"v{i + 1}")
            srv.signal(signal.SIGHUP)
            # Spaced by readiness: the next HUP once this generation serves and the old one retired.
            kit.wait_for(lambda i=i: srv.count(r"reload complete: generation") >= i, what=f"reload {i}")
            kit.wait_for(lambda i=i: srv.count(r"retiring generation") >= i, what=f"retire {i}")
            seen = len(sessions.bodies)
            kit.wait_for(lambda i=i, seen=seen: any(b.startswith(f"v{i + 1} ".encode()) for b in sessions.bodies[seen:])
                         or sessions.errors, what=f"answers from v{i + 1}")
        tail_start = len(pipes.bodies)
        pipes.wait_successes(200)
    assert sessions.errors == [] and pipes.errors == [], (sessions.errors[:5], pipes.errors[:5])
    assert sessions.refused == 0 and pipes.refused == 0
    # Afterwards every answer comes from the newest code.
    assert {b.split()[0] for b in pipes.bodies[tail_start + 50:]} == {b"v11"}
    assert sessions.ok > 100 and pipes.ok > 1000, (sessions.ok, pipes.ok)


def test_sigterm_with_drain_delay_loses_nothing(start_server, pid_app, noretry):
    srv = start_server("--workers", "2", "--threads", "4", "--drain-delay", "1",
                       "--health-path", "/-/ready").ready(workers=2)
    sessions, pipes = _loads(noretry, srv.port)
    with sessions, pipes:
        sessions.wait_successes(50)
        pipes.wait_successes(200)
        srv.signal(signal.SIGTERM)
        assert srv.wait_exit() == 0
    assert sessions.errors == [] and pipes.errors == [], (sessions.errors[:5], pipes.errors[:5])


def test_max_requests_recycling_loses_nothing(start_server, pid_app, noretry, kit):
    srv = start_server("--workers", "2", "--threads", "4", "--max-requests", "300").ready(workers=2)
    sessions, pipes = _loads(noretry, srv.port)
    with sessions, pipes:
        kit.wait_for(lambda: srv.count(r"asked to be replaced") >= 8 or sessions.errors or pipes.errors,
                     timeout=60, what="8 recycled workers")
    assert sessions.errors == [] and pipes.errors == [], (sessions.errors[:5], pipes.errors[:5])
    assert len(set(re.findall(r"worker (\d+) asked to be replaced", srv.log()))) >= 8


def test_sigttou_scale_down_loses_nothing(start_server, pid_app, noretry, kit):
    srv = start_server("--workers", "3", "--threads", "4").ready(workers=3)
    sessions, pipes = _loads(noretry, srv.port)
    with sessions, pipes:
        sessions.wait_successes(50)
        pipes.wait_successes(200)
        for n in (2, 1):
            srv.signal(signal.SIGTTOU)
            kit.wait_for(lambda n=n: f"SIGTTOU: now {n} worker(s)" in srv.log(), what=f"{n} workers")
        kit.wait_for(lambda: len(srv.children()) == 1, what="two workers retired")
        pipes.wait_successes(200)
    assert sessions.errors == [] and pipes.errors == [], (sessions.errors[:5], pipes.errors[:5])
