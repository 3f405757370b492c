"""The sans-I/O request parser alone: requests/s and CPU µs per request of `RequestParser.feed`.

    python3 bench/parser.py [--rounds 5] [--n 20000]

Heads (no sockets, no app): a browser-like GET with 12 headers, a minimal GET, a 4.2 KB POST body
arriving with its head, the same POST with its body fed in a second piece, and as one chunk.  Each round parses
`n` requests on one parser (keep-alive), taking each off the queue as a connection would; the
median of the rounds is printed, in CPU time (time.process_time), so load elsewhere matters less.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hatchway.http.protocol import RequestParser  # noqa: E402

BROWSER = (
    b"GET /articles/2026/12/some-title?page=2&sort=new HTTP/1.1\r\n"
    b"Host: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Referer: https://www.example.com/articles/\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=yes\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"\r\n"
)
MINIMAL = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
_BODY = b"x" * 4200
POST_HEAD = (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Length: %d\r\n\r\n" % len(_BODY))
SCENARIOS = {
    "browser": (BROWSER,),
    "minimal": (MINIMAL,),
    "post-4k2": (POST_HEAD + _BODY,),
    "post-4k2-split": (POST_HEAD, _BODY),
    "post-chunked": (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(_BODY), _BODY),),
}


def run(pieces: tuple, n: int) -> float:
    """CPU seconds for n requests."""
    p = RequestParser()
    feed = p.feed
    queue = p.queue
    done = p.request_done
    t0 = time.process_time()
    for _ in range(n):
        for piece in pieces:
            feed(piece)
        while queue:
            done()
    used = time.process_time() - t0
    assert not p.closed
    return used


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    opts = ap.parse_args()
    for name in opts.scenarios:
        pieces = SCENARIOS[name]
        run(pieces, 1000)  # warm-up
        cells = [run(pieces, opts.n) for _ in range(opts.rounds)]
        med = statistics.median(cells)
        print(f"{name:16s} {med / opts.n * 1e6:6.2f} µs/request  {opts.n / med:10,.0f} req/s"
              f"  (median of {opts.rounds})", flush=True)


if __name__ == "__main__":
    main()
