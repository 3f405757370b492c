"""Response framing decisions, without sockets."""
import pytest

from hatchway.http.response import CHUNKED, CLOSE, LENGTH, NO_BODY, InvalidResponse, frame


def head_lines(f):
    return f.head.decode("latin-1").split("\r\n")


def test_app_content_length_and_date_server():
    f = frame("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")], "GET", "1.1", True)
    assert f.mode == LENGTH and f.length == 5 and f.keep_alive
    lines = head_lines(f)
    assert lines[0] == "HTTP/1.1 200 OK" and "Content-Length: 5" in lines
    assert any(x.startswith("Date: ") for x in lines) and "Server: hatchway" in lines
    assert f.head.endswith(b"\r\n\r\n")


@pytest.mark.parametrize("version,mode,keep", [("1.1", CHUNKED, True), ("1.0", CLOSE, False)])
def test_unknown_length(version, mode, keep):
    f = frame("200 OK", [], "GET", version, True)
    assert f.mode == mode and f.keep_alive == keep
    assert (b"Transfer-Encoding: chunked" in f.head) == (mode == CHUNKED)


def test_known_length_is_used_when_app_gave_none():
    f = frame("200 OK", [], "GET", "1.1", True, known_length=7)
    assert f.mode == LENGTH and b"Content-Length: 7\r\n" in f.head


@pytest.mark.parametrize("status,method", [("204 No Content", "GET"), ("304 Not Modified", "GET"),
                                           ("200 OK", "HEAD"), ("101 Switching", "GET")])
def test_no_body(status, method):
    f = frame(status, [("Content-Length", "9")], method, "1.1", True)
    assert f.mode == NO_BODY
    assert (b"Content-Length" in f.head) == (status[:3] != "204")


def test_hop_by_hop_headers_are_ours():
    f = frame("200 OK", [("Transfer-Encoding", "gzip"), ("Connection", "close"), ("Keep-Alive", "x")],
              "GET", "1.1", True, known_length=1)
    assert b"gzip" not in f.head and b"Keep-Alive" not in f.head
    assert f.keep_alive is False and b"Connection: close" in f.head


def test_http10_keep_alive_is_announced():
    f = frame("200 OK", [], "GET", "1.0", True, known_length=0)
    assert b"Connection: keep-alive" in f.head


@pytest.mark.parametrize("status,headers", [
    ("200 OK", [("X", "a\r\nSet-Cookie: evil=1")]),
    ("200 OK", [("X", "a\nb")]),
    ("200 OK", [("X", "a\rb")]),
    ("200 OK", [("X", "a\0b")]),
    ("200 OK\r\nX: y", []),
    ("200 OK", [("Bad Name", "v")]),
    ("200 OK", [("X:", "v")]),
    ("200 OK", [("X", "\u2603")]),
    ("2000", []),
    ("abc OK", []),
    ("200 OK", [("Content-Length", "-1")]),
    ("200 OK", [("X", 5)]),
])
def test_invalid_responses_never_reach_the_wire(status, headers):
    with pytest.raises(InvalidResponse):
        frame(status, headers, "GET", "1.1", True)


def test_cache_does_not_leak_validation_between_header_sets():
    good = [("X", "fine")]
    frame("200 OK", good, "GET", "1.1", True)
    with pytest.raises(InvalidResponse):
        frame("200 OK", [("X", "fine\r\nY: z")], "GET", "1.1", True)
    assert frame("200 OK", good, "GET", "1.1", True).mode == CHUNKED
