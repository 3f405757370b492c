"""Uploads and sessions: hatchway.web against Flask (Werkzeug), in-process, same run.

    python3 bench/uploads.py            # 5 interleaved rounds (about a minute)
    python3 bench/uploads.py --quick    # 2 rounds

What is measured:

* parsers: the bare multipart tokenizers that could sit under hatchway.web,
  fed the same bytes in 64 KiB chunks, each delivering the payload as bytes
  objects (python-multipart's callbacks get indices; the bytes are sliced
  out as Starlette does): ``multipart`` (PushMultipartParser,
  the one chosen), ``python-multipart`` (if installed) and Werkzeug's
  ``MultipartDecoder``: one 100 MiB file part (MiB/s) and 10,000 small
  text parts (parts/s);
* upload: ``POST`` of a 100 MiB multipart body (one file part and one
  text field) through the whole framework, the view reading
  ``request.files["f"]`` and its size. Each round runs in a fresh child
  process per framework so the peak RSS (``VmHWM``) is that framework's
  alone; the body is generated as it is read, never held in memory;
* form1000: 1,000 small text fields (the default part limit) per request;
* session: per-request time of a view that reads one value from a signed
  session cookie (``session["user"]``), median of rounds of 2,000 requests.

Medians are over rounds; ratios are taken within each round, then the median.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import logging  # noqa: E402

logging.disable(logging.CRITICAL)

MIB = 1024 * 1024
BOUNDARY = b"----benchboundary7MA4YWxkTrZu0gW"
BLOCK = bytes(range(256)) * 4096  # 1 MiB holding every byte value, CR and LF included
_DOUBLE = BLOCK * 2
_SLICES = {}


class GeneratedBody(io.RawIOBase):
    """A read-only body: head, ``n_mib`` generated MiB, tail; made while read.

    A read inside the generated part is one slice of a 2 MiB cyclic buffer,
    cached by (offset, size): a framework reading in fixed-size chunks gets
    the same few bytes objects back without any copying, whatever its chunk
    size, so the time measured is the framework's (and its temporary file's),
    not the harness's.
    """

    def __init__(self, head, n_mib, tail):
        self.head = head
        self.tail = tail
        self.data_end = len(head) + n_mib * MIB
        self.length = self.data_end + len(tail)
        self.pos = 0

    def readable(self):
        return True

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.length - self.pos
        out = []
        while size > 0 and self.pos < self.length:
            pos = self.pos
            if pos < len(self.head):
                take = self.head[pos:pos + size]
            elif pos < self.data_end:
                start = (pos - len(self.head)) % MIB
                n = min(size, self.data_end - pos, MIB)
                key = (start, n)
                take = _SLICES.get(key)
                if take is None:
                    if len(_SLICES) > 64:
                        _SLICES.clear()
                    take = _SLICES[key] = _DOUBLE[start:start + n]
            else:
                off = pos - self.data_end
                take = self.tail[off:off + size]
            out.append(take)
            self.pos += len(take)
            size -= len(take)
        return out[0] if len(out) == 1 else b"".join(out)

    def readinto(self, buf):
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def upload_body(n_mib):
    head = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="title"\r\n\r\nbench\r\n--' + BOUNDARY
            + b'\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    return GeneratedBody(head, n_mib, b"\r\n--" + BOUNDARY + b"--\r\n")


def small_parts_body(n):
    return b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"k%d\"\r\n\r\nvalue%d\r\n" % (BOUNDARY, i, i)
                    for i in range(n)) + b"--" + BOUNDARY + b"--\r\n"


def environ(method="GET", path="/", body=b"", ctype=None, cookie=None, length=None):
    env = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost:8000",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": body if hasattr(body, "read") else io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if ctype:
        env["CONTENT_TYPE"] = ctype
    if length is not None or body:
        env["CONTENT_LENGTH"] = str(length if length is not None else len(body))
    if cookie:
        env["HTTP_COOKIE"] = cookie
    return env


def _start_response(status, headers, exc_info=None):
    return None


def call(app, env):
    result = app(env, _start_response)
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


# -- the apps ----------------------------------------------------------------

SECRET = "bench-secret-key-0123456789"


def hatchway_app():
    from hatchway.web import App, request, session

    app = App("bench", config={"MAX_CONTENT_LENGTH": None})
    app.secret_key = SECRET

    @app.post("/upload")
    def upload():
        f = request.files["f"]
        return {"title": request.form["title"], "size": f.stream.seek(0, 2)}

    @app.post("/form")
    def form():
        return {"n": len(request.form)}

    @app.get("/login")
    def login():
        session["user"] = "alice"
        return "ok"

    @app.get("/me")
    def me():
        return session["user"]

    app.startup()
    return app


def flask_app():
    from flask import Flask, request, session

    app = Flask("bench")
    app.config["MAX_CONTENT_LENGTH"] = None
    app.config["MAX_FORM_PARTS"] = 1000
    app.secret_key = SECRET

    @app.post("/upload")
    def upload():
        f = request.files["f"]
        return {"title": request.form["title"], "size": f.stream.seek(0, 2)}

    @app.post("/form")
    def form():
        return {"n": len(request.form)}

    @app.get("/login")
    def login():
        session["user"] = "alice"
        return "ok"

    @app.get("/me")
    def me():
        return session["user"]

    return app


APPS = {"hatchway.web": hatchway_app, "Flask": flask_app}


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_upload(name, n_mib):
    """Runs in a fresh process: one upload through one framework."""
    app = APPS[name]()
    call(app, environ("POST", "/upload", b"title=x", "application/x-www-form-urlencoded"))  # warm imports
    body = upload_body(n_mib)
    env = environ("POST", "/upload", body, f"multipart/form-data; boundary={BOUNDARY.decode()}", length=body.length)
    rss_before = peak_rss_mib()
    t = time.perf_counter()
    out = call(app, env)
    dt = time.perf_counter() - t
    got = json.loads(out)
    assert got == {"title": "bench", "size": n_mib * MIB}, out[:200]
    print(json.dumps({"seconds": dt, "peak_rss_mib": peak_rss_mib(), "rss_before_mib": rss_before}))


def run_upload(name, n_mib):
    out = subprocess.run([sys.executable, __file__, "--child-upload", name, str(n_mib)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        raise SystemExit(f"{name} upload child failed:\n{out.stderr}")
    return json.loads(out.stdout)


# -- bare parsers -------------------------------------------------------------

def _chunks(data, size=64 * 1024):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _big_chunks(n_mib):
    body = upload_body(n_mib)
    while True:
        c = body.read(64 * 1024)
        if not c:
            return
        yield c


def parse_multipart_pkg(chunks):
    import multipart

    p = multipart.PushMultipartParser(BOUNDARY, max_segment_count=10 ** 6)
    n = parts = 0
    for c in chunks:
        for ev in p.parse(c):
            if ev is None:
                parts += 1
            elif type(ev) is bytes:
                n += len(ev)
    p.close()
    return n, parts


def parse_python_multipart(chunks):
    from python_multipart.multipart import MultipartParser

    st = [0, 0]

    def on_data(d, s, e):
        # Take the bytes, as Starlette does (data[start:end]); the other
        # parsers hand out bytes objects too.
        st[0] += len(d[s:e])

    def on_end():
        st[1] += 1

    p = MultipartParser(BOUNDARY, callbacks={"on_part_data": on_data, "on_part_end": on_end})
    for c in chunks:
        p.write(c)
    p.finalize()
    return st[0], st[1]


def parse_werkzeug(chunks):
    from werkzeug.sansio.multipart import Data, Epilogue, MultipartDecoder, NeedData

    d = MultipartDecoder(BOUNDARY, max_form_memory_size=None, max_parts=None)
    n = parts = 0
    for c in chunks:
        d.receive_data(c)
        while True:
            ev = d.next_event()
            if isinstance(ev, (NeedData, Epilogue)):
                break
            if isinstance(ev, Data):
                n += len(ev.data)
                if not ev.more_data:
                    parts += 1
    d.receive_data(None)
    return n, parts


def parser_table(rounds, n_mib):
    parsers = {"multipart": parse_multipart_pkg, "Werkzeug": parse_werkzeug}
    try:
        import python_multipart  # noqa: F401

        parsers["python-multipart"] = parse_python_multipart
    except ImportError:
        print("(python-multipart not installed: pip install python-multipart to compare it too)")
    small = small_parts_body(10_000)
    res = {k: ([], []) for k in parsers}
    for _ in range(rounds):
        for name, f in parsers.items():
            t = time.perf_counter()
            n, parts = f(_big_chunks(n_mib))
            res[name][0].append(n_mib / (time.perf_counter() - t))
            assert parts == 2, (name, parts)
            t = time.perf_counter()
            n, parts = f(_chunks(small))
            res[name][1].append(10_000 / (time.perf_counter() - t))
            assert parts == 10_000, (name, parts)
    print(f"\nBare tokenizers, {n_mib} MiB file part and 10,000 small parts, 64 KiB chunks, median of {rounds}:")
    print("| parser | MiB/s (one big part) | parts/s (small parts) |")
    print("| --- | ---: | ---: |")
    for name, (big, sm) in res.items():
        print(f"| {name} | {statistics.median(big):,.0f} | {statistics.median(sm):,.0f} |")


def time_requests(app, make_env, n):
    t = time.perf_counter()
    for _ in range(n):
        call(app, make_env())
    return (time.perf_counter() - t) / n * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--child-upload", nargs=2, metavar=("FRAMEWORK", "MIB"))
    args = ap.parse_args()
    if args.child_upload:
        child_upload(args.child_upload[0], int(args.child_upload[1]))
        return
    rounds = 2 if args.quick else 5
    n_mib = args.mib

    parser_table(rounds, n_mib)

    up = {k: [] for k in APPS}
    for _ in range(rounds):
        for name in APPS:
            up[name].append(run_upload(name, n_mib))
    ratios = [up["Flask"][i]["seconds"] / up["hatchway.web"][i]["seconds"] for i in range(rounds)]
    print(f"\n{n_mib} MiB multipart upload through the framework (fresh process each, median of {rounds}):")
    print("| framework | MB/s | peak RSS MiB (process) | RSS before the upload |")
    print("| --- | ---: | ---: | ---: |")
    for name, rs in up.items():
        mbs = statistics.median(n_mib * MIB / 1e6 / r["seconds"] for r in rs)
        print(f"| {name} | {mbs:,.0f} | {statistics.median(r['peak_rss_mib'] for r in rs):.1f} | "
              f"{statistics.median(r['rss_before_mib'] for r in rs):.1f} |")
    print(f"hatchway.web / Werkzeug throughput: {statistics.median(ratios):.2f}x (target >= 2x)")

    apps = {k: f() for k, f in APPS.items()}
    form = small_parts_body(999)
    ctype = f"multipart/form-data; boundary={BOUNDARY.decode()}"
    cookies = {}
    for name, app in apps.items():
        env = environ("GET", "/login")
        headers = []
        result = app(env, lambda s, h, e=None, headers=headers: headers.extend(h))
        b"".join(result)
        getattr(result, "close", lambda: None)()
        cookie = [v for k, v in headers if k.lower() == "set-cookie"][0].split(";", 1)[0]
        cookies[name] = cookie
        assert call(app, environ("GET", "/me", cookie=cookie)) == b"alice", name
        assert json.loads(call(app, environ("POST", "/form", form, ctype))) == {"n": 999}, name
    n_form = 50 if args.quick else 200
    n_sess = 500 if args.quick else 2000
    res = {k: {"form": [], "session": []} for k in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            res[name]["form"].append(time_requests(app, lambda: environ("POST", "/form", form, ctype), n_form))
            ck = cookies[name]
            res[name]["session"].append(time_requests(app, lambda ck=ck: environ("GET", "/me", cookie=ck), n_sess))
    print(f"\nPer request, µs (median of {rounds} rounds):")
    print("| scenario | hatchway.web | Flask | Flask / hatchway |")
    print("| --- | ---: | ---: | ---: |")
    for sc, label in (("form", "999 multipart text fields"), ("session", "read one session value")):
        h = res["hatchway.web"][sc]
        f = res["Flask"][sc]
        ratio = statistics.median(f[i] / h[i] for i in range(rounds))
        print(f"| {label} | {statistics.median(h):,.1f} | {statistics.median(f):,.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
