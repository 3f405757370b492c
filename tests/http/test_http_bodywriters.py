"""http/bodywriters.py and error_response: framing without sockets."""
from hatchway.http.bodywriters import (LAST_CHUNK, ChunkedWriter, CloseWriter, LengthWriter, NoBodyWriter,
                                       writer_for)
from hatchway.http.response import CHUNKED, CLOSE, LENGTH, NO_BODY, error_response


def _wire(writer, chunks):
    bufs: list = []
    results = [writer.write(c, bufs) for c in chunks]
    writer.end(bufs)
    return b"".join(bytes(b) for b in bufs), results


def test_writer_for_each_mode():
    assert type(writer_for(LENGTH, 3)) is LengthWriter
    assert type(writer_for(CHUNKED, None)) is ChunkedWriter
    assert type(writer_for(CLOSE, None)) is CloseWriter
    assert type(writer_for(NO_BODY, None)) is NoBodyWriter


def test_length_exact_passes_pieces_through_without_copies():
    w = LengthWriter(6)
    piece = b"abc"
    bufs: list = []
    assert w.write(piece, bufs) and w.write(b"def", bufs)
    assert bufs[0] is piece
    assert w.missing() == 0 and w.sent == 6


def test_length_overflow_drops_the_surplus_and_says_so():
    w = LengthWriter(5)
    wire, results = _wire(w, [b"abc", b"defgh", b"ij"])
    assert wire == b"abcde"
    assert results == [True, False, False]
    assert w.sent == 5 and w.missing() == 0
    assert w.attempted == 7  # 5 already accepted + the 2 of the last piece


def test_length_underflow_is_reported_as_missing():
    w = LengthWriter(10)
    wire, results = _wire(w, [b"abc"])
    assert wire == b"abc" and results == [True]
    assert w.missing() == 7


def test_chunked_encodes_each_piece_and_ends_with_the_last_chunk():
    w = ChunkedWriter()
    wire, _ = _wire(w, [b"hello", b"x" * 26, memoryview(b"mv")])
    assert wire == b"5\r\nhello\r\n1a\r\n" + b"x" * 26 + b"\r\n2\r\nmv\r\n" + LAST_CHUNK
    assert LAST_CHUNK == b"0\r\n\r\n"
    assert w.sent == 33 and w.missing() == 0


def test_close_delimited_is_the_bytes_themselves():
    w = CloseWriter()
    wire, _ = _wire(w, [b"a", bytearray(b"b")])
    assert wire == b"ab" and w.sent == 2


def test_no_body_sends_nothing_but_counts():
    w = NoBodyWriter()
    wire, results = _wire(w, [b"abc", b"de"])
    assert wire == b"" and results == [True, True] and w.sent == 5


def test_error_response_server_header_and_head():
    full = error_response(500, "boom")
    assert full.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"\r\nServer: hatchway\r\n" in full and b"\r\nConnection: close\r\n" in full
    head, body = full.split(b"\r\n\r\n", 1)
    assert body == b"500 Internal Server Error\n"
    assert b"Content-Length: %d\r\n" % len(body) in head
    assert b"Server:" not in error_response(400, "", server=b"")
    assert b"\r\nServer: edge/1\r\n" in error_response(400, "", server=b"edge/1")
    head_only = error_response(500, "", head_only=True)
    assert head_only.endswith(b"\r\n\r\n") and head_only.count(b"\r\n\r\n") == 1
    assert b"Content-Length: %d\r\n" % len(body) in head_only  # the length a GET would get (RFC 9110 9.3.2)
    assert b"boom" not in full  # the reason is for the log, never for the client
