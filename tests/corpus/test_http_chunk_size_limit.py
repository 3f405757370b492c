"""A chunk size far past the body limit is refused when its size line arrives, over a real socket:
the 413 comes at once, long before the body timeout (set to 60 s here) could have fired."""
import time

from support import Recorder, RunningServer


def test_oversized_chunk_gets_413_at_once():
    rec = Recorder()
    server = RunningServer(rec, threads=0, body_timeout=60.0, max_body_size=1 << 20)
    try:
        with server.connect(timeout=30) as conn:
            conn.send(b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n")
            t0 = time.monotonic()
            resp = conn.read_response()
            elapsed = time.monotonic() - t0
            assert resp.status == 413, resp
            assert resp.has_token("connection", "close")
            conn.wait_closed(timeout=10)
        # Generous bound (loaded machine): far under the 60 s body timeout that used to answer it.
        assert elapsed < 20, elapsed
    finally:
        server.close()
