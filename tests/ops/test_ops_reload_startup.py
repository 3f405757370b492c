"""SIGHUP during start-up (bug 5): the ready generation retires every older one; a failed import before
the service was ever ready is fatal (one line, exit 2)."""
import re
import signal

# The import waits for "go" (with a deadline) and fails while "BROKEN" exists.
APP = """
import os, time
if os.path.exists("BROKEN"):
    raise RuntimeError("boom")
open("importing-%d" % os.getpid(), "w").close()
_end = time.monotonic() + 60
while not os.path.exists("go") and time.monotonic() < _end:
    time.sleep(0.02)

def app(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def _importing(workdir):
    return {int(p.name.split("-")[1]) for p in workdir.glob("importing-*")}


def test_hup_during_startup_retires_the_first_generation(start_server, write_app, workdir, kit):
    write_app(APP)
    srv = start_server("--workers", "2")
    gen0 = kit.wait_for(lambda: len(_importing(workdir)) == 2 and _importing(workdir), what="generation 0 booting")
    srv.signal(signal.SIGHUP)
    srv.wait_log(r"starting generation 1")
    kit.wait_for(lambda: len(_importing(workdir) - gen0) == 2, what="generation 1 booting")
    (workdir / "go").touch()
    srv.ready(workers=2)
    kit.wait_for(lambda: srv.children() and not (srv.children() & gen0), what="generation 0 to exit")
    kit.wait_for(lambda: len(srv.children()) == 2, what="two workers")
    gen1 = srv.children()
    assert not gen1 & gen0
    served = {int(kit.get(srv.port)[2]) for _ in range(10)}
    assert served <= gen1, (served, gen1, gen0)
    assert srv.proc.poll() is None


def test_failed_import_after_hup_during_startup_is_fatal(start_server, write_app, workdir, kit):
    write_app(APP)
    srv = start_server("--workers", "2")
    kit.wait_for(lambda: len(_importing(workdir)) == 2, what="generation 0 booting")
    (workdir / "BROKEN").touch()
    srv.signal(signal.SIGHUP)
    assert srv.wait_exit() == 2
    err = srv.stderr().strip().splitlines()
    assert err == ["hatchway: error: importing 'app:app' failed: RuntimeError: boom"], err
    assert not re.search(r"\] ready:", srv.log())
    assert "did not exit in time" not in srv.log()  # the booting generation 0 stopped at once
