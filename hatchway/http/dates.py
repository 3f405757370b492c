"""The Date header, formatted once per second rather than once per request."""
import time

# RFC 9110 5.6.7 IMF-fixdate, by hand: email.utils (and the email package it loads) is not worth
# its memory for one format string.
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_cache_second = 0
_cache_value = b""


def http_date() -> bytes:
    """IMF-fixdate for now, as bytes ready for the wire."""
    global _cache_second, _cache_value
    now = int(time.time())
    if now != _cache_second:
        t = time.gmtime(now)
        _cache_value = b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
            _DAYS[t.tm_wday].encode(), t.tm_mday, _MONTHS[t.tm_mon - 1].encode(), t.tm_year,
            t.tm_hour, t.tm_min, t.tm_sec)
        _cache_second = now
    return _cache_value
