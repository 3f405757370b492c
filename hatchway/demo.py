"""The built-in demo app, served when `hatchway serve` is given no application."""
import json

_INDEX = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>hatchway</title></head>
<body><h1>hatchway is serving</h1>
<p>This is the built-in demo app. Try <a href="/json">/json</a>, <a href="/stream">/stream</a>,
or <code>curl -d 'hello' http://HOST/echo</code>.</p>
<p>Serve your own: <code>hatchway serve module:app</code>.</p></body></html>
"""


def app(environ, start_response):
    path = environ["PATH_INFO"]
    method = environ["REQUEST_METHOD"]
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [_INDEX]
    if path == "/json":
        body = json.dumps({"server": "hatchway", "path": path, "query": environ["QUERY_STRING"],
                           "remote_addr": environ.get("REMOTE_ADDR", "")}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/echo":
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "POST"), ("Content-Type", "text/plain")])
            return [b"POST a body to /echo\n"]
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", environ.get("CONTENT_TYPE") or "application/octet-stream")])
        return [body]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"line %d\n" % i for i in range(10))
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found\n"]
