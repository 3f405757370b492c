"""Thread pool behaviour: a blocked app does not stop other connections (threads=4)."""
import concurrent.futures
import threading

import requests

from support import Recorder, RunningServer, wait_for

TEXT = [("Content-Type", "text/plain")]


def test_blocked_app_does_not_block_others_with_threads4():
    release = threading.Event()
    entered = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/block":
            entered.set()
            release.wait(20)
        start_response("200 OK", TEXT + [("Content-Length", "2")])
        return [b"ok"]

    srv = RunningServer(app, threads=4)
    try:
        blocked = srv.connect(timeout=20)
        blocked.request(target="/block")
        assert entered.wait(10)
        for i in range(10):
            with srv.connect(timeout=5) as c:
                c.request(target=f"/fast{i}")
                assert c.read_response(timeout=5).body == b"ok"
        assert not release.is_set()
        release.set()
        assert blocked.read_response().body == b"ok"
        blocked.close()
    finally:
        release.set()
        srv.close()


def test_three_blocked_apps_still_leave_a_worker():
    release = threading.Event()
    entered = []
    lock = threading.Lock()

    def app(environ, start_response):
        if environ["PATH_INFO"].startswith("/block"):
            with lock:
                entered.append(environ["PATH_INFO"])
            release.wait(20)
        start_response("200 OK", TEXT + [("Content-Length", "2")])
        return [b"ok"]

    srv = RunningServer(app, threads=4)
    conns = []
    try:
        for i in range(3):
            c = srv.connect(timeout=20)
            c.request(target=f"/block{i}")
            conns.append(c)
        wait_for(lambda: len(entered) == 3, 10, what="three blocked requests")
        with srv.connect(timeout=5) as c:
            c.request(target="/fast")
            assert c.read_response(timeout=5).body == b"ok"
        release.set()
        for c in conns:
            assert c.read_response().body == b"ok"
    finally:
        release.set()
        for c in conns:
            c.close()
        srv.close()


def test_parallel_clients_get_their_own_answers(serve):
    srv = serve(Recorder())

    def worker(n):
        with requests.Session() as s:
            for i in range(10):
                r = s.post(f"{srv.url}/w{n}/{i}?n={n}", data=f"payload-{n}-{i}".encode(), timeout=10)
                assert r.status_code == 200
                j = r.json()
                assert (j["path"], j["query"], j["body"]) == (f"/w{n}/{i}", f"n={n}", f"payload-{n}-{i}")
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert sorted(ex.map(worker, range(8))) == list(range(8))
