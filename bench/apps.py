"""Plain WSGI callables for the server benchmark (bench/servers.py).

Every server under test serves exactly these functions, so the figures compare servers, not frameworks.
Bodies are built once at import time; the apps do as little Python work as a real app could.
"""

import json

HELLO = b"Hello, World!"
STREAM_CHUNK = b"x" * 1024
STREAM_CHUNKS = 16
BIG = b"b" * (1024 * 1024)


def hello(environ, start_response):
    """ka-hello / close-hello: 13-byte body with Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [HELLO]


def ka_json(environ, start_response):
    """ka-json (optional scenario): a small json.dumps per request."""
    body = json.dumps({"message": "Hello, World!"}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def echo(environ, start_response):
    """post-echo: read the request body fully from wsgi.input and echo it back.

    Reads exactly CONTENT_LENGTH bytes in bounded pieces: read() without a size is not portable (PEP 3333) and
    blocks on servers that hand the app the raw socket file.
    """
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    parts = []
    while remaining > 0:
        data = stream.read(min(remaining, 65536))
        if not data:
            break
        parts.append(data)
        remaining -= len(data)
    body = b"".join(parts)
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]


def _chunks():
    for _ in range(STREAM_CHUNKS):
        yield STREAM_CHUNK


def stream(environ, start_response):
    """stream: 16 x 1 KiB yielded from a generator, no Content-Length (chunked on HTTP/1.1)."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return _chunks()


def big(environ, start_response):
    """big: a 1 MiB body with Content-Length, as one bytes object."""
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))])
    return [BIG]
