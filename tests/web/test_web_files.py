"""Static folders, send_file / send_from_directory, safe_join, conditional GET and ranges.

Through the test client and through real HTTP on hatchway's server (requests, and curl for ranges).
"""

import email.utils
import http.client
import io
import os
import subprocess
import time

import pytest
import requests

from hatchway.web import App, Blueprint, Response, request, safe_join, send_file, send_from_directory

DATA = bytes(range(256)) * 40  # 10,240 bytes, every offset distinguishable


@pytest.fixture
def site(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "style.css").write_text("body { color: teal }\n")
    (tmp_path / "static" / "sub").mkdir()
    (tmp_path / "static" / "sub" / "data.bin").write_bytes(DATA)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.pdf").write_bytes(DATA)
    (tmp_path / "files" / "Überblick €.txt").write_text("grüße\n")
    (tmp_path / "secret.txt").write_text("top secret\n")
    os.symlink(tmp_path / "secret.txt", tmp_path / "files" / "escape.txt")
    (tmp_path / "bp_static").mkdir()
    (tmp_path / "bp_static" / "admin.js").write_text("console.log('admin')\n")

    app = App("filesapp", root_path=str(tmp_path))
    admin = Blueprint("admin", __name__, url_prefix="/admin", static_folder="bp_static",
                      root_path=str(tmp_path))

    @admin.get("/")
    def index():
        return "admin"

    app.register_blueprint(admin)

    @app.get("/download/<path:name>")
    def download(name):
        return send_from_directory("files", name, as_attachment=request.args.get("a") == "1")

    @app.get("/report")
    def report():
        return send_file("files/report.pdf", max_age=int(request.args["age"]) if "age" in request.args else None)

    @app.get("/memory")
    def memory():
        return send_file(io.BytesIO(b"in memory bytes"), mimetype="text/plain", download_name="m.txt")

    @app.get("/plain")
    def plain():
        r = Response(DATA[:1000], mimetype="application/octet-stream")
        r.set_etag("v1")
        return r.make_conditional(request)

    @app.get("/urls")
    def urls():
        from hatchway.web import url_for

        return {"css": url_for("static", filename="style.css"),
                "admin": url_for("admin.static", filename="admin.js")}

    return app, tmp_path


def test_static_folder_defaults_and_blueprint_static(site):
    app, root = site
    assert app.static_folder == os.path.join(str(root), "static")
    assert app.static_url_path == "/static"
    assert app.template_folder == "templates"
    c = app.test_client()
    r = c.get("/static/style.css")
    assert r.status_code == 200
    assert r.data == b"body { color: teal }\n"
    assert r.headers["Content-Type"] == "text/css; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["Content-Length"] == "21"
    assert r.headers["ETag"].startswith('"')
    assert c.get("/static/sub/data.bin").data == DATA
    r = c.get("/admin/bp_static/admin.js")
    assert r.status_code == 200 and b"admin" in r.data
    assert c.get("/urls").get_json() == {"css": "/static/style.css", "admin": "/admin/bp_static/admin.js"}
    assert c.get("/static/missing.css").status_code == 404


def test_default_static_folder_is_found_through_root_path(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a")
    app = App("x", root_path=str(tmp_path))
    assert app.test_client().get("/static/a.txt").data == b"a"
    # Without the folder on disk the default adds no rule (documented difference).
    assert [r.endpoint for r in App("y", root_path=str(tmp_path / "nowhere")).routes] == []
    custom = App("z", root_path=str(tmp_path), static_folder="static", static_url_path="/assets")
    assert custom.test_client().get("/assets/a.txt").data == b"a"


@pytest.mark.parametrize("path", [
    "/download/../secret.txt",
    "/download/%2e%2e/secret.txt",
    "/download/%2E%2E%2Fsecret.txt",
    "/download/sub/../../secret.txt",
    "/download//etc/passwd",
    "/download/%00report.pdf",
    "/download/report.pdf%00",
    "/download/..%5csecret.txt",
    "/download/escape.txt",
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
])
def test_traversal_is_404(site, path):
    app, _ = site
    r = app.test_client().get(path)
    assert r.status_code == 404
    assert b"top secret" not in r.data


def test_safe_join_rules(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.txt").write_text("x")
    (tmp_path / "outside.txt").write_text("o")
    os.symlink(tmp_path / "outside.txt", tmp_path / "d" / "link.txt")
    d = str(tmp_path / "d")
    assert safe_join(d, "ok.txt") == os.path.join(d, "ok.txt")
    assert safe_join(d, "a/b/../ok.txt") is None  # any ".." segment is refused
    for bad in ("../outside.txt", "/etc/passwd", "..", "a\x00b", "a\\..\\b", "link.txt", "x\r\ny"):
        assert safe_join(d, bad) is None, bad


def test_send_file_attachment_and_non_ascii_name(site):
    app, _ = site
    c = app.test_client()
    r = c.get("/download/report.pdf?a=1")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == "attachment; filename=report.pdf"
    r = c.get("/download/%C3%9Cberblick%20%E2%82%AC.txt?a=1")
    assert r.status_code == 200, r.data
    assert r.data == "grüße\n".encode()
    assert r.headers["Content-Disposition"] == (
        "attachment; filename=\"Uberblick .txt\"; filename*=UTF-8''%C3%9Cberblick%20%E2%82%AC.txt"
    )
    r = c.get("/memory")
    assert r.data == b"in memory bytes"
    assert r.headers["Content-Disposition"] == "inline; filename=m.txt"
    assert r.headers["Content-Length"] == "15"
    assert "ETag" not in r.headers  # no path, no generated tag


def test_max_age_sets_cache_control_and_expires(site):
    app, _ = site
    r = app.test_client().get("/report?age=60")
    assert r.headers["Cache-Control"] == "public, max-age=60"
    expires = email.utils.parsedate_to_datetime(r.headers["Expires"]).timestamp()
    assert 0 < expires - time.time() <= 61
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 120
    assert app.test_client().get("/static/style.css").headers["Cache-Control"] == "public, max-age=120"


def test_conditional_get(site):
    app, _ = site
    c = app.test_client()
    first = c.get("/report")
    etag, lm = first.headers["ETag"], first.headers["Last-Modified"]
    r = c.get("/report", headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.data == b""
    assert r.headers["ETag"] == etag
    assert "Content-Length" not in r.headers and "Content-Type" not in r.headers
    assert c.get("/report", headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert c.get("/report", headers={"If-None-Match": "*"}).status_code == 304
    assert c.get("/report", headers={"If-None-Match": '"nope"'}).status_code == 200
    assert c.get("/report", headers={"If-Modified-Since": lm}).status_code == 304
    assert c.get("/report", headers={"If-Modified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}).status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    assert c.get("/report", headers={"If-None-Match": '"nope"', "If-Modified-Since": lm}).status_code == 200
    assert c.get("/report", headers={"If-Modified-Since": "garbage"}).status_code == 200
    assert c.get("/report", headers={"If-Match": '"nope"'}).status_code == 412
    assert c.get("/report", headers={"If-Match": etag}).status_code == 200
    assert c.get("/report", headers={"If-Unmodified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}).status_code == 412


def test_ranges_single_suffix_open_multi_unsatisfiable_if_range(site):
    app, _ = site
    c = app.test_client()
    full = c.get("/report")
    assert full.headers["Accept-Ranges"] == "bytes"
    r = c.get("/report", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.data == DATA[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    assert r.headers["Content-Length"] == "10"
    r = c.get("/report", headers={"Range": "bytes=-5"})
    assert r.status_code == 206 and r.data == DATA[-5:]
    r = c.get("/report", headers={"Range": "bytes=10200-"})
    assert r.data == DATA[10200:] and r.headers["Content-Range"] == f"bytes 10200-10239/{len(DATA)}"
    r = c.get("/report", headers={"Range": "bytes=0-99999"})
    assert r.status_code == 206 and r.data == DATA
    r = c.get("/report", headers={"Range": "bytes=0-1,5-6,100-103"})
    assert r.status_code == 206
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1].encode()
    assert int(r.headers["Content-Length"]) == len(r.data)
    parts = r.data.split(b"--" + boundary)
    assert parts[0] == b"" and parts[-1] == b"--\r\n"
    bodies = [p.split(b"\r\n\r\n", 1) for p in parts[1:-1]]
    assert [b[1][:-2] for b in bodies] == [DATA[0:2], DATA[5:7], DATA[100:104]]
    assert b"Content-Range: bytes 5-6/10240" in bodies[1][0]
    assert b"Content-Type: application/pdf" in bodies[0][0]
    # Overlapping ranges are merged into one.
    r = c.get("/report", headers={"Range": "bytes=0-9,5-14"})
    assert r.status_code == 206 and r.data == DATA[:15]
    r = c.get("/report", headers={"Range": "bytes=20000-"})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{len(DATA)}"
    # Malformed or foreign-unit ranges are ignored (RFC 9110 14.2): the whole file.
    for bad in ("bytes=5-1", "bytes=a-b", "items=0-1", "bytes="):
        r = c.get("/report", headers={"Range": bad})
        assert r.status_code == 200 and r.data == DATA, bad
    # Too many ranges: ignored rather than amplified.
    many = ",".join(f"{i * 3}-{i * 3}" for i in range(200))
    assert c.get("/report", headers={"Range": f"bytes={many}"}).status_code == 200
    etag, lm = full.headers["ETag"], full.headers["Last-Modified"]
    r = c.get("/report", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206 and r.data == DATA[:4]
    r = c.get("/report", headers={"Range": "bytes=0-3", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.data == DATA
    r = c.get("/report", headers={"Range": "bytes=0-3", "If-Range": lm})
    assert r.status_code == 206
    r = c.get("/report", headers={"Range": "bytes=0-3", "If-Range": "Mon, 01 Jan 1990 00:00:00 GMT"})
    assert r.status_code == 200
    r = c.head("/report", headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.data == b"" and r.headers["Content-Length"] == "4"


def test_plain_response_make_conditional(site):
    app, _ = site
    c = app.test_client()
    r = c.get("/plain")
    assert r.status_code == 200 and r.headers["ETag"] == '"v1"'
    assert c.get("/plain", headers={"If-None-Match": '"v1"'}).status_code == 304
    r = c.get("/plain", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.data == DATA[100:200]
    assert r.headers["Content-Range"] == "bytes 100-199/1000"
    r = c.get("/plain", headers={"Range": "bytes=0-0,-1"})
    assert r.status_code == 206 and r.headers["Content-Type"].startswith("multipart/byteranges")
    # POST is never turned into a 304.
    resp = Response("x")
    resp.set_etag("t")
    env = {"REQUEST_METHOD": "POST", "HTTP_IF_NONE_MATCH": '"t"'}
    assert resp.make_conditional(env).status_code == 200
    resp = Response("abc")
    resp.add_etag()
    assert resp.headers["ETag"].startswith('"') and len(resp.headers["ETag"]) == 42


def test_send_file_errors_are_clear():
    app = App("errs", root_path="/")
    with app.test_request_context("/"):
        with pytest.raises(TypeError, match="download_name"):
            send_file(io.BytesIO(b"x"))
        with pytest.raises(ValueError, match="binary"):
            send_file(io.StringIO("x"), mimetype="text/plain")


# --- real HTTP on hatchway's server -------------------------------------------------------------

def test_real_http_static_and_ranges_with_requests(site, serve):
    app, _ = site
    base = serve(app)
    r = requests.get(f"{base}/static/sub/data.bin", timeout=10)
    assert r.status_code == 200 and r.content == DATA
    r2 = requests.get(f"{base}/static/sub/data.bin", headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
    assert r2.status_code == 304 and r2.content == b""
    r3 = requests.get(f"{base}/static/sub/data.bin", headers={"Range": "bytes=256-511"}, timeout=10)
    assert r3.status_code == 206 and r3.content == DATA[256:512]
    host, port = base.rsplit("/", 1)[1].split(":")
    for raw in ("/download/../secret.txt", "/download/%2e%2e/secret.txt", "/download/%2e%2e%2fsecret.txt",
                "/static/..%2f..%2fsecret.txt"):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", raw)  # http.client sends the target as written, dots and all
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status in (400, 404) and b"top secret" not in body, raw
    r6 = requests.get(f"{base}/plain", headers={"Range": "bytes=-10"}, timeout=10)
    assert r6.status_code == 206 and r6.content == DATA[990:1000]
    r7 = requests.get(f"{base}/plain", headers={"If-None-Match": '"v1"'}, timeout=10)
    assert r7.status_code == 304 and r7.content == b""
    # The server is fine afterwards.
    assert requests.get(f"{base}/static/style.css", timeout=10).status_code == 200


def test_real_http_files_go_out_with_sendfile(site, serve, monkeypatch):
    app, _ = site
    calls = []
    real = os.sendfile

    def counting(out_fd, in_fd, offset, count):
        calls.append((offset, count))
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    base = serve(app)
    r = requests.get(f"{base}/static/sub/data.bin", timeout=10)
    assert r.content == DATA
    assert calls and calls[0] == (0, len(DATA))
    calls.clear()
    r = requests.get(f"{base}/report", headers={"Range": "bytes=1000-1999"}, timeout=10)
    assert r.status_code == 206 and r.content == DATA[1000:2000]
    assert calls and calls[0] == (1000, 1000)  # the range itself, straight from the file


def test_real_http_ranges_with_curl(site, serve, tmp_path):
    app, _ = site
    base = serve(app)

    def curl(*args):
        out = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert curl("-r", "0-9", f"{base}/report") == DATA[:10]
    assert curl("-r", "-16", f"{base}/report") == DATA[-16:]
    head = curl("-s", "-D", "-", "-o", "/dev/null", "-r", "0-1,4-5", f"{base}/report").decode()
    assert "206" in head.splitlines()[0] and "multipart/byteranges" in head
    head = curl("-D", "-", "-o", "/dev/null", "-r", "99999-", f"{base}/report").decode()
    assert head.startswith("HTTP/1.1 416") and "Content-Range: bytes */10240" in head
    # Resume a download: curl -C asks for the rest.
    part = tmp_path / "part.pdf"
    part.write_bytes(DATA[:4000])
    curl("-C", "-", "-o", str(part), f"{base}/report")
    assert part.read_bytes() == DATA
    head = curl("-D", "-", "-o", "/dev/null", f"{base}/download/report.pdf?a=1").decode()
    assert "Content-Disposition: attachment; filename=report.pdf" in head


def test_send_file_options(tmp_path):
    import datetime

    (tmp_path / "a.tar.gz").write_bytes(b"gz")
    app = App("opts", root_path=str(tmp_path))
    when = datetime.datetime(2020, 5, 17, 12, 0, tzinfo=datetime.timezone.utc)

    @app.get("/<kind>")
    def view(kind):
        if kind == "lm":
            return send_file("a.tar.gz", last_modified=when, etag="fixed")
        if kind == "noetag":
            return send_file("a.tar.gz", etag=False, mimetype="application/x-thing")
        if kind == "attach":
            return send_file("a.tar.gz", as_attachment=True)
        return send_file("a.tar.gz", conditional=False)

    c = app.test_client()
    r = c.get("/lm")
    assert r.headers["Last-Modified"] == "Sun, 17 May 2020 12:00:00 GMT"
    assert r.headers["ETag"] == '"fixed"'
    assert r.headers["Content-Type"] == "application/x-tar"
    assert r.headers["Content-Encoding"] == "gzip"  # inline: the browser may unpack it
    assert c.get("/lm", headers={"If-None-Match": '"fixed"'}).status_code == 304
    r = c.get("/noetag")
    assert "ETag" not in r.headers and r.headers["Content-Type"] == "application/x-thing"
    r = c.get("/attach")
    assert "Content-Encoding" not in r.headers  # an attachment is saved as is
    assert r.headers["Content-Disposition"] == "attachment; filename=a.tar.gz"
    r = c.get("/plain", headers={"Range": "bytes=0-0"})
    assert r.status_code == 200 and r.data == b"gz"  # conditional=False ignores Range


def test_file_body_is_bounded_for_servers_that_iterate_the_wrapper(tmp_path):
    """Over TLS (no sendfile) hatchway's server iterates wsgi.file_wrapper: it must stop at the range."""
    from hatchway.web.filebody import FileBody
    from hatchway.wsgi.filewrapper import FileWrapper

    p = tmp_path / "f.bin"
    p.write_bytes(DATA)
    region = FileBody(open(p, "rb"), 0, len(DATA)).region(1000, 1300)
    wrapper = FileWrapper(region, 128)
    assert b"".join(wrapper) == DATA[1000:1300]
    wrapper.close()
    assert region.file.closed


def test_empty_file_ignores_range(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    app = App("empty", root_path=str(tmp_path))

    @app.get("/e")
    def e():
        return send_file("empty.txt")

    r = app.test_client().get("/e", headers={"Range": "bytes=0-"})
    assert r.status_code == 200 and r.data == b"" and r.headers["Content-Length"] == "0"


def test_send_file_from_a_pipe_streams_without_length(serve):
    app = App("pipe")

    @app.get("/pipe")
    def pipe():
        r, w = os.pipe()
        with os.fdopen(w, "wb") as wf:
            wf.write(DATA[:5000])
        return send_file(os.fdopen(r, "rb"), mimetype="application/octet-stream")

    r = app.test_client().get("/pipe", headers={"Range": "bytes=0-9"})
    assert r.status_code == 200 and r.data == DATA[:5000]  # no length, no ranges
    assert "Content-Length" not in r.headers
    base = serve(app)
    r = requests.get(f"{base}/pipe", timeout=10)
    assert r.status_code == 200 and r.content == DATA[:5000]
    assert r.headers.get("Transfer-Encoding") == "chunked"


def test_send_file_object_sends_from_its_position(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(DATA)
    app = App("pos")

    @app.get("/pos")
    def pos():
        f = open(p, "rb")
        f.seek(10000)
        return send_file(f, mimetype="application/octet-stream")

    r = app.test_client().get("/pos")
    assert r.data == DATA[10000:] and r.headers["Content-Length"] == str(len(DATA) - 10000)
    r = app.test_client().get("/pos", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.data == DATA[10000:10010]


def test_download_name_cannot_inject_headers():
    from hatchway.web.files import content_disposition

    assert content_disposition("attachment", 'a\r\nSet-Cookie: x=1\x00".txt') == (
        'attachment; filename="aSet-Cookie: x=1\\".txt"'
    )
    assert content_disposition("inline", "plain.txt") == "inline; filename=plain.txt"
