"""server/outbuf.py over a real socket pair: order, IOV_MAX, file ranges, the spill."""
import os
import select
import socket
import tempfile
import threading

import pytest

from hatchway.server.errors import ClientGone
from hatchway.server.outbuf import IOV_MAX, OutputBuffer, file_range


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _drain(out, reader, expected_len):
    """Read on a thread while the buffer is pumped on this one: everything, in order."""
    got = bytearray()

    def read():
        while len(got) < expected_len:
            data = reader.recv(1 << 20)
            if not data:
                return
            got.extend(data)

    t = threading.Thread(target=read)
    t.start()
    while not out.send():
        select.select([], [out.sock], [], 5)
    t.join(10)
    return bytes(got)


def test_more_buffers_than_iov_max_go_out_in_order(pair):
    a, b = pair
    out = OutputBuffer(a, False)
    pieces = [b"%06d" % i for i in range(IOV_MAX * 3 + 7)]
    out.add(list(pieces))  # the buffer owns the list it is given (no copy)
    assert _drain(out, b, 6 * len(pieces)) == b"".join(pieces)
    assert out.bufs == []


def test_bytes_then_a_file_range_by_sendfile(pair, tmp_path):
    a, b = pair
    path = tmp_path / "f"
    path.write_bytes(os.urandom(300_000))
    with open(path, "rb") as f:
        f.seek(1000)
        rng = file_range(f)
        assert rng is not None and rng.offset == 1000 and rng.count == 299_000
        out = OutputBuffer(a, False)
        out.add([b"head:", rng])
        assert _drain(out, b, 5 + 299_000) == b"head:" + path.read_bytes()[1000:]


def test_file_range_refuses_what_sendfile_cannot_send():
    r, w = os.pipe()
    try:
        with os.fdopen(r, "rb", closefd=False) as pipe:
            assert file_range(pipe) is None
    finally:
        os.close(r)
        os.close(w)
    assert file_range(object()) is None
    with tempfile.TemporaryFile() as empty:
        assert file_range(empty) is None


def test_held_output_spills_past_the_watermark_and_keeps_its_order(pair):
    a, b = pair
    out = OutputBuffer(a, False)
    first = b"a" * (1 << 20)
    out.add([first])
    assert not out.send()  # nobody reads: the socket pair's buffers fill long before 1 MiB
    out.hold(64 * 1024)
    assert out.spill is not None  # past the watermark: the rest went to a temporary file
    assert sum(len(x) for x in out.bufs if isinstance(x, (bytes, memoryview))) < len(first)
    out.add([b"b" * 100_000])  # behind the spill file, not in memory
    out.add([b"tail"])
    expected = first + b"b" * 100_000 + b"tail"
    assert _drain(out, b, len(expected)) == expected  # what the first send() put out is read too
    assert out.spill is None  # drained: the temporary file is closed


def test_a_gone_peer_is_client_gone(pair):
    a, b = pair
    b.close()
    out = OutputBuffer(a, False)
    out.add([b"x" * 100_000])
    with pytest.raises(ClientGone):
        while not out.send():
            pass
    assert out.bufs == []
