"""multipart/form-data through the test client: request.files, request.form, limits, bad input."""

import hashlib
import io
import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hatchway.web import App, FileStorage, request, secure_filename
from hatchway.web import formparser
from hatchway.web.testing import encode_multipart

B = "hwtestboundary"
CT = f"multipart/form-data; boundary={B}"


def part(name, body, filename=None, ctype=None, extra=b""):
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    head = f"--{B}\r\nContent-Disposition: {disp}\r\n".encode()
    if ctype:
        head += f"Content-Type: {ctype}\r\n".encode()
    return head + extra + b"\r\n" + body + b"\r\n"


def close():
    return f"--{B}--\r\n".encode()


def make_app(**config):
    app = App(__name__, config=config)
    seen = app.seen = []

    @app.post("/up")
    def up():
        files = {}
        for name, f in request.files.items(multi=True):
            seen.append(f)
            data = f.read()
            files.setdefault(name, []).append({
                "filename": f.filename, "name": f.name, "content_type": f.content_type,
                "size": len(data), "sha": hashlib.sha256(data).hexdigest()[:16],
                "on_disk": not isinstance(f.stream, io.BytesIO),
            })
        return {"form": request.form.to_dict(flat=False), "files": files}

    @app.post("/boom")
    def boom():
        seen.extend(f for _, f in request.files.items(multi=True))
        raise RuntimeError("view failed after reading the upload")

    @app.post("/stream")
    def stream():
        seen.extend(f for _, f in request.files.items(multi=True))

        def gen():
            yield b"streamed "
            yield request.files["f"].read()

        return gen()

    @app.post("/save")
    def save():
        f = request.files["f"]
        dest = os.path.join(app.config["UPLOAD_DIR"], secure_filename(f.filename) or "unnamed")
        f.save(dest)
        return {"saved": os.path.relpath(dest, app.config["UPLOAD_DIR"]), "raw": f.filename}

    return app


def post(app, body, ctype=CT, path="/up", **kw):
    return app.test_client().post(path, data=body, headers={"Content-Type": ctype}, **kw)


def test_werkzeug_style_test_client_data():
    app = make_app()
    r = app.test_client().post("/up", data={
        "field": "v",
        "many": ["1", "2"],
        "f": (io.BytesIO(b"%PDF-1.7 ..."), "name.pdf", "application/pdf"),
        "g": [(io.BytesIO(b"a"), "a.txt"), (b"bb", "b.txt", "text/plain")],
    })
    assert r.status_code == 200, r.text
    got = r.get_json()
    assert got["form"] == {"field": ["v"], "many": ["1", "2"]}
    f = got["files"]["f"][0]
    assert (f["filename"], f["name"], f["content_type"], f["size"]) == ("name.pdf", "f", "application/pdf", 12)
    assert [g["filename"] for g in got["files"]["g"]] == ["a.txt", "b.txt"]
    assert [g["content_type"] for g in got["files"]["g"]] == ["application/octet-stream", "text/plain"]


def test_file_storage_surface(tmp_path):
    app = App(__name__)
    out = {}

    @app.post("/f")
    def f():
        fs = request.files["doc"]
        assert isinstance(fs, FileStorage) and fs
        out["headers"] = dict(fs.headers.items())
        out["mimetype"] = (fs.mimetype, fs.mimetype_params)
        out["first"] = fs.read(3)
        fs.seek(0)
        buf = io.BytesIO()
        fs.save(buf)
        fs.seek(0)
        fs.save(tmp_path / "copy.txt")
        fs.stream.seek(0)
        out["lines"] = list(fs)
        return "ok"

    body = part("doc", b"abc\ndef\n", filename="d.txt", ctype="text/plain; charset=utf-8") + close()
    r = post(app, body, path="/f")
    assert r.status_code == 200, r.text
    assert out["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert out["headers"]["Content-Disposition"] == 'form-data; name="doc"; filename="d.txt"'
    assert out["mimetype"] == ("text/plain", {"charset": "utf-8"})
    assert out["first"] == b"abc"
    assert (tmp_path / "copy.txt").read_bytes() == b"abc\ndef\n"
    assert out["lines"] == [b"abc\n", b"def\n"]


def test_text_fields_charset_and_empty_file_field():
    app = make_app()
    body = (part("name", "héllo".encode()) + part("latin", "é".encode("latin-1"), ctype="text/plain; charset=latin-1")
            + part("bad", b"\xff\xfe") + part("nofile", b"", filename="") + close())
    r = post(app, body)
    assert r.status_code == 200, r.text
    got = r.get_json()
    # Field values: decoded with the part's charset, invalid bytes replaced (as Werkzeug).
    assert got["form"] == {"name": ["héllo"], "latin": ["é"], "bad": ["\ufffd\ufffd"]}
    # A browser's "no file chosen": present, with an empty filename and falsy.
    assert got["files"]["nofile"][0]["filename"] == "" and got["files"]["nofile"][0]["size"] == 0


def test_form_after_get_data_and_files_without_multipart():
    app = App(__name__)

    @app.post("/both")
    def both():
        raw = request.get_data()
        return {"raw": len(raw), "form": request.form.to_dict(), "files": list(request.files)}

    body = part("a", b"1") + part("f", b"xyz", filename="x") + close()
    r = post(app, body, path="/both")
    assert r.get_json() == {"raw": len(body), "form": {"a": "1"}, "files": ["f"]}
    r = app.test_client().post("/both", data={"a": "1"})
    assert r.get_json() == {"raw": 3, "form": {"a": "1"}, "files": []}


def test_get_data_after_the_parser_consumed_the_body_is_empty():
    app = App(__name__)

    @app.post("/after")
    def after():
        return {"form": request.form.to_dict(), "data": len(request.get_data())}

    r = post(app, part("a", b"1") + close(), path="/after")
    assert r.status_code == 200 and r.get_json() == {"form": {"a": "1"}, "data": 0}


def test_small_parts_stay_in_memory_large_ones_spill():
    app = make_app(MAX_FORM_MEMORY_SIZE=1000)
    body = part("small", b"s" * 1000, filename="s") + part("big", b"b" * 1001, filename="b") + close()
    got = post(app, body).get_json()["files"]
    assert got["small"][0]["on_disk"] is False
    assert got["big"][0]["on_disk"] is True
    assert got["big"][0]["sha"] == hashlib.sha256(b"b" * 1001).hexdigest()[:16]


def test_in_memory_total_is_bounded_across_parts():
    # 8 x MAX_FORM_MEMORY_SIZE in memory at most: later small files spill.
    app = make_app(MAX_FORM_MEMORY_SIZE=1000)
    body = b"".join(part(f"f{i}", b"x" * 900, filename=f"{i}") for i in range(12)) + close()
    got = post(app, body).get_json()["files"]
    on_disk = [got[f"f{i}"][0]["on_disk"] for i in range(12)]
    assert on_disk[:8] == [False] * 8 and all(on_disk[9:])


def test_text_fields_together_are_bounded_in_memory():
    app = make_app(MAX_FORM_MEMORY_SIZE=1000)
    body = b"".join(part(f"t{i}", b"x" * 900) for i in range(9)) + close()
    r = post(app, body)
    assert r.status_code == 413 and "8 x MAX_FORM_MEMORY_SIZE" in r.get_json()["detail"]
    r = post(app, b"".join(part(f"t{i}", b"x" * 900) for i in range(8)) + close())
    assert r.status_code == 200 and len(r.get_json()["form"]) == 8


def _open_temp_fds(tmp_path):
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(tmp_path)):
            n += 1
    return n


@pytest.mark.parametrize("path", ["/up", "/boom", "/stream"])
def test_temp_files_are_removed_at_the_end_of_the_request(tmp_path, path, caplog):
    app = make_app(MAX_FORM_MEMORY_SIZE=100, UPLOAD_TEMP_DIR=str(tmp_path))
    body = part("f", b"z" * 5000, filename="z.bin") + part("g", b"y" * 10, filename="y.bin") + close()
    with caplog.at_level(logging.ERROR, "hatchway.web"):
        r = post(app, body, path=path)
    assert r.status_code == (500 if path == "/boom" else 200)
    if path == "/stream":
        assert r.data == b"streamed " + b"z" * 5000
    assert len(app.seen) == 2
    assert all(f.closed for f in app.seen)
    # The spilled part had an (anonymous) file in tmp_path; nothing is left open or on disk.
    assert _open_temp_fds(tmp_path) == 0
    assert os.listdir(tmp_path) == []


def test_temp_file_exists_while_the_view_runs(tmp_path):
    app = App(__name__, config={"MAX_FORM_MEMORY_SIZE": 100, "UPLOAD_TEMP_DIR": str(tmp_path)})

    @app.post("/up")
    def up():
        request.files["f"]
        return {"open": _open_temp_fds(tmp_path)}

    r = post(app, part("f", b"z" * 5000, filename="z") + close())
    assert r.get_json() == {"open": 1}
    assert _open_temp_fds(tmp_path) == 0


@pytest.mark.parametrize("config,body,code,words", [
    ({"MAX_FORM_PARTS": 3}, b"".join(part(f"k{i}", b"v") for i in range(4)) + close(), 413, "segment count"),
    ({"MAX_FORM_PART_HEADER_SIZE": 200}, part("a", b"v", extra=b"X-Pad: " + b"p" * 300 + b"\r\n") + close(),
     413, "header length"),
    ({"MAX_FORM_MEMORY_SIZE": 100}, part("text", b"t" * 101) + close(), 413, "MAX_FORM_MEMORY_SIZE"),
    ({"MAX_CONTENT_LENGTH": 100}, part("f", b"x" * 200, filename="x") + close(), 413, "limit of 100"),
    ({}, part("f", b"x", filename="x", extra=b"Content-Length: 10737418240\r\n") + close(), 413,
     "Multipart limit reached"),
    ({}, part("a", b"v", extra=b"".join(b"X-H%d: v\r\n" % i for i in range(8))) + close(), 413, "header count"),
    ({}, part("a", b"v", extra=b"X-Big: " + b"h" * 1_000_000 + b"\r\n") + close(), 413, "header length"),
], ids=["parts", "header-size", "text-field", "total", "part-declares-10GiB", "header-count", "1MB-part-header"])
def test_limits_answer_413(config, body, code, words):
    r = post(make_app(**config), body)
    assert r.status_code == code, r.text
    assert words in r.get_json()["detail"]


@pytest.mark.parametrize("ctype,body,words", [
    ("multipart/form-data", part("a", b"v") + close(), "no boundary"),
    ("multipart/form-data; boundary=" + "b" * 10_000, b"--" + b"b" * 10_000 + b"--\r\n", "boundary is invalid"),
    ('multipart/form-data; boundary="a\x01b"', b"--a\x01b--\r\n", "boundary is invalid"),
    (CT, part("a", b"v"), "Unexpected end"),
    (CT, part("a", b"v")[:-5], "Unexpected end"),
    (CT, b"", "Unexpected end"),
    (CT, f"--{B}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode() + close(), "Missing Content-Disposition"),
    (CT, f"--{B}\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n".encode() + close(), "Wrong type"),
    (CT, f"--{B}\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nx\r\n".encode("latin-1") + close(),
     "failed to decode"),
    (CT, f"--{B}\r\nContent-Disposition form-data\r\n\r\nx\r\n".encode() + close(), "Malformed segment header"),
    (CT, f"--{B}\nContent-Disposition: form-data; name=a\n\nx\n--{B}--\n".encode(), "line break"),
    (CT, b"junk--" + B.encode() + b"\r\n", "Unexpected byte"),
], ids=["no-boundary", "10KB-boundary", "ctl-boundary", "unterminated", "truncated", "empty", "no-disposition",
        "wrong-disposition", "non-utf8-name", "header-no-colon", "bare-LF", "junk-before-boundary"])
def test_bad_bodies_answer_400(ctype, body, words):
    r = post(make_app(), body, ctype=ctype)
    assert r.status_code == 400, r.text
    assert words in r.get_json()["detail"]


def test_body_shorter_than_content_length_is_400():
    app = make_app()
    body = part("a", b"v") + close()
    r = app.test_client().post("/up", data=body, headers={"Content-Type": CT, "Content-Length": str(len(body) + 10)})
    assert r.status_code == 400 and "ended before" in r.get_json()["detail"]


def test_chunked_body_is_read_to_eof_and_capped():
    app = make_app(MAX_CONTENT_LENGTH=1000)
    body = part("a", b"v") + part("f", b"x" * 100, filename="x") + close()
    c = app.test_client()
    env = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    r = c.post("/up", data=body, headers={"Content-Type": CT}, environ_overrides=env)
    assert r.status_code == 200 and r.get_json()["form"] == {"a": ["v"]}
    big = part("f", b"x" * 2000, filename="x") + close()
    r = c.post("/up", data=big, headers={"Content-Type": CT}, environ_overrides=env)
    assert r.status_code == 413
    # Neither a length nor a server promise of EOF: 411, the body is not touched.
    r = c.post("/up", data=body, headers={"Content-Type": CT}, environ_overrides={"CONTENT_LENGTH": ""})
    assert r.status_code == 411


def test_traversal_filename_is_reported_raw_and_saved_safely(tmp_path):
    app = make_app(UPLOAD_DIR=str(tmp_path / "uploads"))
    (tmp_path / "uploads").mkdir()
    for raw, safe in [("../../etc/passwd", "etc_passwd"), ("..\\..\\boot.ini", "boot.ini"),
                      ("/abs/path.txt", "abs_path.txt"), ("..", "unnamed")]:
        r = app.test_client().post("/save", data={"f": (io.BytesIO(b"data"), raw)})
        assert r.get_json() == {"saved": safe, "raw": raw}
    assert sorted(os.listdir(tmp_path / "uploads")) == ["abs_path.txt", "boot.ini", "etc_passwd", "unnamed"]
    assert sorted(os.listdir(tmp_path)) == ["uploads"]


@pytest.mark.parametrize("raw,safe", [
    ("My cool movie.mov", "My_cool_movie.mov"),
    ("../../../etc/passwd", "etc_passwd"),
    ("i contain cool \xfcml\xe4uts.txt", "i_contain_cool_umlauts.txt"),
    ("NUL.txt", "_NUL.txt"), ("com1", "_com1"), ("...", ""), (".bashrc", "bashrc"),
    ("a\x00b/c", "ab_c"), ("  spaced  out  ", "spaced_out"), ("日本語.txt", "txt"),
])
def test_secure_filename(raw, safe):
    assert secure_filename(raw) == safe


def test_missing_multipart_package_is_a_logged_501_not_a_500(monkeypatch, caplog):
    monkeypatch.setattr(formparser, "_multipart", None)
    app = make_app()
    with caplog.at_level(logging.ERROR, "hatchway.web"):
        r = post(app, part("a", b"v") + close())
    assert r.status_code == 501
    assert "pip install 'hatchway[web]'" in r.get_json()["detail"]
    assert [rec.getMessage() for rec in caplog.records] == [
        "multipart/form-data needs the 'multipart' package: pip install 'hatchway[web]'"
    ]


def test_encode_multipart_round_trips_awkward_names():
    body, ctype = encode_multipart({'we"ird\r\nname': "v", "f": (b"\r\n--x\r\n", 'fi"le.txt')})
    app = make_app()
    got = post(app, body, ctype=ctype).get_json()
    assert got["form"] == {'we"ird\r\nname': ["v"]}
    assert got["files"]["f"][0]["filename"] == 'fi"le.txt'
    assert got["files"]["f"][0]["size"] == 7


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.sampled_from([0, 1, 2]))
def test_arbitrary_bodies_never_give_a_500(noise, mode):
    app = make_app(MAX_FORM_PARTS=5, MAX_FORM_MEMORY_SIZE=64)
    if mode == 0:
        body = noise
    elif mode == 1:
        body = part("a", noise) + close()
    else:
        body = f"--{B}\r\n".encode() + noise + b"\r\n" + close()
    r = post(app, body)
    assert r.status_code in (200, 400, 413), r.text


def test_100000_tiny_parts_through_the_test_client():
    body = b"".join(part(f"k{i}", b"v") for i in range(100_000)) + close()
    r = post(make_app(), body)
    assert r.status_code == 413 and "segment count" in r.get_json()["detail"]
    # Parsing all of them with the limit raised is done over real HTTP (test_web_uploads_http.py).
