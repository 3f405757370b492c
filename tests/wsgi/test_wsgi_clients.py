"""Real clients: http.client, requests, curl."""
import hashlib
import http.client
import json
import os
import subprocess

import requests

from support import Recorder

TEXT = [("Content-Type", "text/plain")]


def hashing_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/download/"):
        size = int(path.rsplit("/", 1)[1])
        block = hashlib.sha256(b"dl").digest() * 2048

        def gen():
            sent = 0
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                sent += len(piece)
                yield piece

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return gen()
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = environ["wsgi.input"].read(65536)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    out = json.dumps({
        "method": environ["REQUEST_METHOD"], "path": path, "query": environ.get("QUERY_STRING", ""),
        "length": n, "sha256": h.hexdigest(), "port": environ.get("REMOTE_PORT"),
        "te": environ.get("HTTP_TRANSFER_ENCODING"), "cl": environ.get("CONTENT_LENGTH", ""),
        "expect": environ.get("HTTP_EXPECT"), "protocol": environ["SERVER_PROTOCOL"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def expected_download(size):
    block = hashlib.sha256(b"dl").digest() * 2048
    return hashlib.sha256((block * (size // len(block) + 1))[:size]).hexdigest()


def test_http_client_keepalive_reuse(serve):
    srv = serve(hashing_app)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        ports = set()
        for i in range(5):
            conn.request("POST", f"/hc{i}?i={i}", body=b"x" * i * 1000)
            resp = conn.getresponse()
            data = json.loads(resp.read())
            assert resp.status == 200 and data["path"] == f"/hc{i}" and data["length"] == i * 1000
            ports.add(data["port"])
        assert ports == {str(conn.sock.getsockname()[1])}, "http.client did not reuse the connection"
        conn.request("HEAD", "/download/1000")
        resp = conn.getresponse()
        assert resp.read() == b"" and resp.status == 200
        conn.request("GET", "/download/70000")
        resp = conn.getresponse()
        assert hashlib.sha256(resp.read()).hexdigest() == expected_download(70000)
    finally:
        conn.close()


def test_requests_session_reuse_chunked_upload_and_streaming(serve):
    srv = serve(hashing_app)
    with requests.Session() as s:
        ports = {s.get(f"{srv.url}/s{i}", timeout=10).json()["port"] for i in range(5)}
        assert len(ports) == 1, f"requests.Session did not reuse the connection: {ports}"

        parts = [os.urandom(n) for n in (1, 1000, 65536, 3, 200000)]
        r = s.post(f"{srv.url}/chunked", data=iter(parts), timeout=20)
        j = r.json()
        assert j["te"] == "chunked" and j["cl"] == ""
        assert j["length"] == sum(map(len, parts)) and j["sha256"] == hashlib.sha256(b"".join(parts)).hexdigest()

        size = 5 * 1024 * 1024 + 17
        with s.get(f"{srv.url}/download/{size}", stream=True, timeout=20) as r:
            assert r.headers.get("Transfer-Encoding") == "chunked"
            h = hashlib.sha256()
            for chunk in r.iter_content(65536):
                h.update(chunk)
        assert h.hexdigest() == expected_download(size)
        assert s.get(f"{srv.url}/after", timeout=10).json()["port"] in ports


def curl(*args, timeout=30):
    proc = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def test_curl_get_and_http10(serve):
    srv = serve(hashing_app)
    out = json.loads(curl(f"{srv.url}/plain?a=1"))
    assert out["path"] == "/plain" and out["query"] == "a=1" and out["protocol"] == "HTTP/1.1"
    out = json.loads(curl("--http1.0", f"{srv.url}/old"))
    assert out["protocol"] == "HTTP/1.0"
    body = curl("--http1.0", f"{srv.url}/download/300000")
    assert hashlib.sha256(body).hexdigest() == expected_download(300000)


def test_curl_expect_100_continue_upload(serve, tmp_path):
    srv = serve(hashing_app)
    f = tmp_path / "up.bin"
    data = os.urandom(3 * 1024 * 1024)
    f.write_bytes(data)
    out = curl("-H", "Expect: 100-continue", "--expect100-timeout", "15", "--data-binary", f"@{f}", f"{srv.url}/upload",
               "-w", "\n%{http_code} %{time_total}")
    body, _, tail = out.rpartition(b"\n")
    j = json.loads(body)
    assert tail.split()[0] == b"200"
    assert j["expect"] == "100-continue" and j["length"] == len(data) and j["sha256"] == hashlib.sha256(data).hexdigest()


def test_curl_head(serve):
    srv = serve(Recorder())
    out = curl("--head", f"{srv.url}/headme")
    head = out.decode("latin-1")
    assert head.startswith("HTTP/1.1 200")
    assert "content-length:" in head.lower() and "date:" in head.lower() and "server:" in head.lower()
    assert head.endswith("\r\n\r\n")


def test_curl_keepalive_multiple_urls(serve):
    srv = serve(hashing_app)
    out = curl("-v", f"{srv.url}/a", f"{srv.url}/b", "--stderr", "-")
    text = out.decode("latin-1")
    assert "Re-using existing connection" in text or "Reusing existing connection" in text, text[-2000:]
