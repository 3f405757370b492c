"""http.server-style handlers: `close_connection = True` set after end_headers() closes the connection (bug 12)."""
import pytest

from hatchway.http.server import BaseHTTPRequestHandler, HTTPServer
from support import connect, serving


def _handler(bufsize):
    class LateClose(BaseHTTPRequestHandler):
        wbufsize = bufsize

        def do_GET(self):
            body = b"hi"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(body)
            if self.path == "/late-close":
                self.close_connection = True  # as http.server handlers do after the body

    return LateClose


def _read_until_eof(sock):
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("threads", [0, 2])
@pytest.mark.parametrize("bufsize", [0, 65536])  # 0: the head is out before the handler returns
def test_close_connection_set_after_end_headers_closes(threads, bufsize):
    with serving(HTTPServer(("127.0.0.1", 0), _handler(bufsize), threads=threads)) as srv:
        sock = connect(srv.server_address)
        with sock:
            # Keep-alive first: the connection stays open after a normal request.
            sock.sendall(b"GET /keep HTTP/1.1\r\nHost: x\r\n\r\nGET /late-close HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
            data = _read_until_eof(sock)  # returns only once the server closes
        responses = data.split(b"HTTP/1.1 ")[1:]
        assert len(responses) == 2, data  # the third request, after the close, is not answered
        assert all(r.startswith(b"200 OK") and r.endswith(b"\r\n\r\nhi") for r in responses), data
        if bufsize:
            # The head had not gone out: it says so.
            assert b"connection: close" in responses[1].lower()
            assert b"connection: close" not in responses[0].lower()
