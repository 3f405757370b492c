"""How many request heads a feed can hold, told cheaply: the pure build's guard before it lets httptools
parse a large feed in one pass (httptools cannot pause at the pipeline limit; the compiled build's own
tokenizer can, and needs no guard)."""
from __future__ import annotations


def few_heads(data: bytes, room: int) -> bool:
    """Whether `data` can hold fewer than `room` complete request heads.  The first head's end is
    found directly (a short scan: heads come first); every later head ends with two LFs of its own,
    so fewer than 2 * room of them after it settle it, found by memchr (`find` of one byte; a POST's
    body usually has none).  Past 16 LFs the exact count of CRLFCRLF decides, a C scan several
    times slower than memchr."""
    if room <= 0:
        return False
    find = data.find
    start = find(b"\r\n\r\n", 0, 2048)
    left = room
    if start >= 0:
        start += 4
        left -= 1
        if not left:
            return data.count(b"\r\n\r\n") < room
    else:
        start = 0
    budget = min(2 * left, 16)
    i = find(b"\n", start)
    while i >= 0:
        budget -= 1
        if not budget:
            return data.count(b"\r\n\r\n") < room
        i = find(b"\n", i + 1)
    return True
