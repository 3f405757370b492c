"""Uploads through real HTTP on hatchway's server: curl (-F, -T), requests, and hostile bodies.

Each hostile body must get a 4xx (never a 500) and leave the server serving:
the next request, on a fresh connection, gets its 200.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from hatchway.web import App, request, secure_filename
from support import Proc, can_connect, free_port, wait_for

B = "hostileboundary"
CT = f"multipart/form-data; boundary={B}"


def part(name, body, filename=None, extra=b""):
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{B}\r\nContent-Disposition: {disp}\r\n".encode() + extra + b"\r\n" + body + b"\r\n"


END = f"--{B}--\r\n".encode()


def build_app(upload_dir, **config):
    app = App(__name__, config=config)

    @app.get("/")
    def index():
        return "up"

    @app.post("/up")
    def up():
        files = {}
        for name, f in request.files.items(multi=True):
            data = f.read()
            files[name] = {"filename": f.filename, "content_type": f.content_type, "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()}
        return {"fields": len(request.form), "form": dict(list(request.form.items())[:5]), "files": files}

    @app.post("/save")
    def save():
        f = request.files["f"]
        name = secure_filename(f.filename) or "unnamed"
        f.save(os.path.join(upload_dir, name))
        return {"raw": f.filename, "saved": name}

    @app.put("/put/<name>")
    def put(name):
        # A raw (curl -T) upload, streamed to disk in bounded memory.
        h = hashlib.sha256()
        size = 0
        with open(os.path.join(upload_dir, secure_filename(name)), "wb") as out:
            stream = request.stream
            while True:
                chunk = stream.read(65536)
                if not chunk:
                    break
                h.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return {"size": size, "sha256": h.hexdigest()}

    return app


@pytest.fixture
def upload_server(serve, tmp_path):
    updir = tmp_path / "uploads"
    updir.mkdir()
    base = serve(build_app(str(updir)))
    return base, updir


def fresh_get(base):
    # A new connection each time (no Session), so a wedged connection cannot hide a dead worker.
    r = requests.get(base + "/", timeout=10, headers={"Connection": "close"})
    assert (r.status_code, r.text) == (200, "up")


def raw_post(base, body, ctype=CT, path="/up", extra_headers=b""):
    """POST over a raw socket; returns (status, body).

    A reader thread collects the answer while the body is still being sent:
    the server may answer (413) and close before taking the whole body, and
    the answer must be read before the close's reset can discard it.
    """
    host, port = base.rsplit("/", 1)[-1].split(":")
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\n").encode() + extra_headers + b"\r\n"
    received = []
    with socket.create_connection((host, int(port)), timeout=30) as s:
        def read():
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    received.append(chunk)
            except OSError:
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before we finished sending
        reader.join(timeout=30)
        assert not reader.is_alive(), "no answer within 30 s"
    data = b"".join(received)
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout), *args], capture_output=True, timeout=timeout + 10)


def test_curl_multipart_fields_and_files(upload_server, tmp_path):
    base, _ = upload_server
    doc = tmp_path / "report.pdf"
    doc.write_bytes(os.urandom(300_000))
    out = curl("-F", "title=Quarterly", "-F", f"f=@{doc};type=application/pdf", base + "/up")
    got = json.loads(out.stdout)
    assert got["form"] == {"title": "Quarterly"}
    assert got["files"]["f"] == {"filename": "report.pdf", "content_type": "application/pdf", "size": 300_000,
                                 "sha256": hashlib.sha256(doc.read_bytes()).hexdigest()}


def test_requests_multipart_upload(upload_server):
    base, _ = upload_server
    blob = os.urandom(2_000_000)  # well past the in-memory threshold: spilled
    r = requests.post(base + "/up", data={"a": "1", "b": "é"},
                      files={"f": ("photo.jpg", blob, "image/jpeg"), "g": ("notes.txt", b"hi")}, timeout=30)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["form"] == {"a": "1", "b": "é"}
    assert got["files"]["f"]["sha256"] == hashlib.sha256(blob).hexdigest()
    assert got["files"]["g"]["size"] == 2


def test_curl_T_uploads_with_length_and_chunked(upload_server, tmp_path):
    base, updir = upload_server
    src = tmp_path / "data.bin"
    src.write_bytes(os.urandom(5_000_000))
    want = {"size": 5_000_000, "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
    out = curl("-T", str(src), base + "/put/data.bin")
    assert json.loads(out.stdout) == want
    assert (updir / "data.bin").read_bytes() == src.read_bytes()
    # From stdin: no length, so curl sends it chunked; the server de-chunks and marks EOF.
    with open(src, "rb") as stdin:
        out = subprocess.run(["curl", "-sS", "--max-time", "60", "-T", "-", base + "/put/piped.bin"],
                             stdin=stdin, capture_output=True, timeout=70)
    assert json.loads(out.stdout) == want
    # Past MAX_CONTENT_LENGTH (16 MiB) while streaming a chunked body: 413.
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(17 * 1024 * 1024)
    with open(big, "rb") as stdin:
        out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60",
                              "-T", "-", base + "/put/big.bin"], stdin=stdin, capture_output=True, timeout=70)
    assert out.stdout == b"413"
    fresh_get(base)


def test_hostile_traversal_filename_via_curl(upload_server, tmp_path):
    base, updir = upload_server
    src = tmp_path / "evil.txt"
    src.write_bytes(b"owned")
    for raw in ["../../../../tmp/evil.txt", "..%2f..%2fevil.txt", "/etc/passwd", "..\\..\\win.ini"]:
        out = curl("-F", f"f=@{src};filename={raw}", base + "/save")
        got = json.loads(out.stdout)
        assert got["raw"] == raw
        assert "/" not in got["saved"] and not got["saved"].startswith(".")
    assert sorted(os.listdir(updir)) == sorted(
        ["tmp_evil.txt", "2f..2fevil.txt", "etc_passwd", "win.ini"])
    assert not (tmp_path / "evil.txt.bak").exists()
    fresh_get(base)


@pytest.mark.slow
def test_hostile_100000_tiny_parts(serve, tmp_path):
    body = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"k%d\"\r\n\r\nv\r\n" % (B.encode(), i)
                    for i in range(100_000)) + END
    assert len(body) < 16 * 1024 * 1024
    # Default limit (1000 parts): refused early with 413.
    base = serve(build_app(str(tmp_path)))
    status, detail = raw_post(base, body)
    assert status == 413 and b"segment count" in detail
    fresh_get(base)
    # Raised limit: all parsed, in bounded time.
    base = serve(build_app(str(tmp_path), MAX_FORM_PARTS=100_000))
    t = time.monotonic()
    status, got = raw_post(base, body)
    assert status == 200 and json.loads(got)["fields"] == 100_000
    assert time.monotonic() - t < 30
    fresh_get(base)


@pytest.mark.parametrize("name,body,ctype,code", [
    ("part-declares-10GiB", part("f", b"x", filename="x", extra=b"Content-Length: 10737418240\r\n") + END, CT, 413),
    ("10KB-boundary", b"--" + b"b" * 10_240 + b"\r\n" + b"Content-Disposition: form-data; name=a\r\n\r\nv\r\n--"
     + b"b" * 10_240 + b"--\r\n", "multipart/form-data; boundary=" + "b" * 10_240, 400),
    ("1MB-part-header", part("a", b"v", extra=b"X-Big: " + b"h" * 1_000_000 + b"\r\n") + END, CT, 413),
    ("unterminated", part("a", b"v") + part("f", b"x" * 100_000, filename="x"), CT, 400),
    ("no-boundary", part("a", b"v") + END, "multipart/form-data", 400),
    ("non-utf8-name", f"--{B}\r\nContent-Disposition: form-data; name=\"\xe9\"\r\n\r\nv\r\n".encode("latin-1") + END,
     CT, 400),
])
def test_hostile_bodies(upload_server, name, body, ctype, code):
    base, _ = upload_server
    status, detail = raw_post(base, body, ctype=ctype)
    assert status == code, detail
    assert json.loads(detail)["status"] == code
    fresh_get(base)


def test_hostile_request_declaring_10GiB_is_refused_before_reading(upload_server):
    base, _ = upload_server
    host, port = base.rsplit("/", 1)[-1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {10 << 30}\r\n\r\n".encode()
                  + part("a", b"v"))
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 413 ")
    fresh_get(base)


BIG_APP = '''
import os
from hatchway.web import App, request

app = App(__name__, config={"MAX_CONTENT_LENGTH": 2 << 30, "UPLOAD_TEMP_DIR": os.environ["UPLOAD_TMP"]})


def peak_rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


@app.get("/")
def index():
    return "up"


@app.post("/big")
def big():
    f = request.files["f"]
    head = f.read(16)
    f.seek(-16, os.SEEK_END)
    tail = f.read(16)
    return {"size": f.seek(0, os.SEEK_END), "head": head.hex(), "tail": tail.hex(),
            "note": request.form.get("note"), "on_disk": hasattr(f.stream, "fileno"),
            "temp_files": len(os.listdir(os.environ["UPLOAD_TMP"])), "peak_rss_kib": peak_rss_kib()}


@app.get("/rss")
def rss():
    return {"peak_rss_kib": peak_rss_kib(), "temp_fds": sum(
        1 for fd in os.listdir("/proc/self/fd")
        if os.path.realpath("/proc/self/fd/" + fd).startswith(os.environ["UPLOAD_TMP"]))}
'''


@pytest.mark.slow
def test_1GiB_upload_spills_and_keeps_worker_rss_under_64MiB(tmp_path):
    (tmp_path / "bigapp.py").write_text(BIG_APP)
    uptmp = tmp_path / "spool"
    uptmp.mkdir()
    port = free_port()
    env = {"UPLOAD_TMP": str(uptmp)}
    # --workers 0: the app runs in this very process, so its VmHWM is the worker's peak RSS.
    # The server's own max_body_size defaults to 1 GiB: raise it for a body just past 1 GiB.
    proc = Proc(["serve", "bigapp:app", "--bind", f"127.0.0.1:{port}", "--workers", "0", "--threads", "1",
                 "--max-body-size", str(2 << 30)], cwd=tmp_path, env=env)
    try:
        wait_for(lambda: can_connect(("127.0.0.1", port)), timeout=20, what="server up")
        size = 1 << 30
        b = b"bigboundary"
        head = (b"--" + b + b'\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--' + b
                + b'\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n")
        tail = b"\r\n--" + b + b"--\r\n"
        block = memoryview(bytes(range(256)) * 4096)  # generated, never a file on disk
        t = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: multipart/form-data; "
                      b"boundary=" + b + b"\r\nContent-Length: %d\r\n\r\n" % (len(head) + size + len(tail)) + head)
            left = size
            while left:
                n = min(left, len(block))
                s.sendall(block[:n])
                left -= n
            s.sendall(tail)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        elapsed = time.monotonic() - t
        assert data.startswith(b"HTTP/1.1 200 "), data[:300]
        got = json.loads(data.partition(b"\r\n\r\n")[2])
        assert got["size"] == size and got["note"] == "hello" and got["on_disk"]
        assert (got["head"], got["tail"]) == (bytes(range(16)).hex(), bytes(range(240, 256)).hex())
        assert got["temp_files"] == 0  # anonymous: unlinked even while open
        assert got["peak_rss_kib"] < 64 * 1024, got
        after = requests.get(f"http://127.0.0.1:{port}/rss", timeout=10).json()
        assert after["temp_fds"] == 0  # closed at the end of the request
        assert after["peak_rss_kib"] < 64 * 1024
        print(f"1 GiB multipart upload: {elapsed:.1f} s, worker peak RSS {got['peak_rss_kib'] / 1024:.1f} MiB",
              file=sys.stderr)
        assert elapsed < 120
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.output()
