"""Zero-downtime reload (SIGHUP) and development reload (--reload)."""
import signal
import time


def _versions_after(client, t):
    return {body.split()[0] for when, body in client.bodies if when > t}


def test_sighup_under_load_drops_nothing_and_serves_new_code(start_server, pid_app, kit):
    srv = start_server("--workers", "2").ready(workers=2)
    port = srv.port
    old = srv.children()
    with kit.LoadClient(port, threads=6, max_seconds=90) as client:
        client.wait_successes(300)
        pid_app("v2")
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload complete: generation 1 serving")
        kit.wait_for(lambda: not (srv.children() & old), what="the old workers to exit")
        done = time.monotonic()
        client.wait_successes(300)
    assert client.errors == [], client.errors[:5]
    assert _versions_after(client, done) == {b"v2"}
    assert {body.split()[0] for _, body in client.bodies} == {b"v1", b"v2"}
    assert kit.get(port)[2].startswith(b"v2 ")


def test_import_error_on_reload_keeps_the_old_code_serving(start_server, pid_app, write_app, kit):
    srv = start_server("--workers", "2").ready(workers=2)
    port = srv.port
    old = srv.children()
    with kit.LoadClient(port, threads=4, max_seconds=90) as client:
        client.wait_successes(100)
        write_app("import os\nraise ImportError('broken edit: no such thing')\n")
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload failed, the old workers keep serving: importing 'app:app' failed: "
                     r"ImportError: broken edit: no such thing")
        failed = time.monotonic()
        client.wait_successes(200)
        assert _versions_after(client, failed) == {b"v1"}
        assert srv.children() == old
        assert "Traceback" in srv.log() and "raise ImportError('broken edit" in srv.log()
        # Fixing the code and reloading again works.
        pid_app("v3")
        srv.signal(signal.SIGHUP)
        srv.wait_log(r"reload complete: generation \d+ serving")
        kit.wait_for(lambda: not (srv.children() & old), what="the old workers to exit")
        fixed = time.monotonic()
        client.wait_successes(100)
    assert client.errors == [], client.errors[:5]
    assert _versions_after(client, fixed) == {b"v3"}


def test_dev_reload_survives_a_broken_edit(start_server, pid_app, write_app, kit, workdir):
    srv = start_server("--reload", "--reload-dir", str(workdir)).ready(workers=1)
    port = srv.port
    srv.wait_log(r"watching .* for changes")
    assert kit.get(port)[2].startswith(b"v1 ")
    mark = len(srv.log())
    write_app("def app(environ, start_response:\n    pass\n")  # a syntax error
    srv.wait_log(r"reload failed, the old workers keep serving: .*SyntaxError", start=mark)
    for _ in range(20):
        assert kit.get(port)[2].startswith(b"v1 ")
    mark = len(srv.log())
    pid_app("v2")
    srv.wait_log(r"reload complete", start=mark)
    kit.wait_for(lambda: kit.get(port)[2].startswith(b"v2 "), what="the edited code to serve")
