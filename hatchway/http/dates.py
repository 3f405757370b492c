"""The Date header, formatted once per second rather than once per request."""
import time
from email.utils import formatdate

_cache_second = 0
_cache_value = b""


def http_date() -> bytes:
    """IMF-fixdate for now, as bytes ready for the wire."""
    global _cache_second, _cache_value
    now = int(time.time())
    if now != _cache_second:
        _cache_value = formatdate(now, usegmt=True).encode("ascii")
        _cache_second = now
    return _cache_value
