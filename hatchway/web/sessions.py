"""Signed-cookie sessions and flash messages, with Flask's interface.

``session`` is a proxy to the current request's session, opened on first
use (a request that never touches it pays nothing) through
``app.session_interface.open_session(app, request)`` and saved after the
after-request hooks through ``save_session(app, session, response)``.

The default interface keeps the session in a cookie signed with
``itsdangerous`` (HMAC-SHA256, timestamped): the client can read it but not
change it. ``SECRET_KEY_FALLBACKS`` are accepted when reading and never used
for signing, so keys rotate without logging anyone out. A cookie that is
tampered with, signed with an unknown key, older than
``PERMANENT_SESSION_LIFETIME`` or otherwise unreadable is an empty session,
never an error.

Cookie defaults are safer than Flask's: ``HttpOnly``, ``SameSite=Lax``, and
``Secure`` whenever the request came over https (``SESSION_COOKIE_SECURE =
None`` means "follow the request"; True or False force it).
"""

import hashlib
import json
import logging
import time
from datetime import timedelta
from collections.abc import Callable
from typing import Any

from .ctx import _cv_request, _NoContext, _Proxy

__all__ = [
    "session", "flash", "get_flashed_messages", "SessionMixin", "SecureCookieSession",
    "NullSession", "SessionInterface", "SecureCookieSessionInterface", "SESSION_DEFAULTS",
]

log = logging.getLogger("hatchway.web")

SESSION_DEFAULTS: dict = {
    "SECRET_KEY": None,
    "SECRET_KEY_FALLBACKS": [],
    "SESSION_COOKIE_NAME": "session",
    "SESSION_COOKIE_DOMAIN": None,
    "SESSION_COOKIE_PATH": None,
    "SESSION_COOKIE_HTTPONLY": True,
    # None: Secure exactly when the request came over https.
    "SESSION_COOKIE_SECURE": None,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_PARTITIONED": False,
    "SESSION_REFRESH_EACH_REQUEST": True,
    "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
}
_EXTRA_HINT = "pip install 'hatchway[web]'"
# Browsers silently drop cookies past about 4 KiB.
_COOKIE_WARN_SIZE = 4093


def _cfg(app, key):
    return app.config.get(key, SESSION_DEFAULTS[key])


class SessionMixin:
    """What every session object offers on top of the dict interface."""

    # Supplied by the dict the mixin is combined with.
    get: Callable[..., Any]
    __setitem__: Callable[[str, Any], None]

    @property
    def permanent(self):
        return self.get("_permanent", False)

    @permanent.setter
    def permanent(self, value):
        self["_permanent"] = bool(value)

    #: Newly created (no valid cookie came in).
    new = False
    #: Changed during this request, so it must be written back.
    modified = True
    #: Read during this request, so the response depends on the cookie (Vary).
    accessed = True


class SecureCookieSession(dict, SessionMixin):
    """A dict that notes when it is read (``accessed``) or changed (``modified``)."""

    modified = False
    accessed = False

    def __init__(self, initial=None):
        super().__init__(initial or ())

    def _read(self):
        self.accessed = True

    def _write(self):
        self.accessed = True
        self.modified = True

    def __getitem__(self, key):
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.accessed = True
        return super().get(key, default)

    def __contains__(self, key):
        self.accessed = True
        return super().__contains__(key)

    def __len__(self):
        self.accessed = True
        return super().__len__()

    def __iter__(self):
        self.accessed = True
        return super().__iter__()

    def keys(self):
        self.accessed = True
        return super().keys()

    def values(self):
        self.accessed = True
        return super().values()

    def items(self):
        self.accessed = True
        return super().items()

    def __setitem__(self, key, value):
        self._write()
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self._write()
        super().__delitem__(key)

    def setdefault(self, key, default=None):
        self._write()
        return super().setdefault(key, default)

    def pop(self, key, *default):
        self._write()
        return super().pop(key, *default)

    def popitem(self):
        self._write()
        return super().popitem()

    def update(self, *args, **kwargs):
        self._write()
        super().update(*args, **kwargs)

    def clear(self):
        self._write()
        super().clear()


class NullSession(SecureCookieSession):
    """The session when no secret key is set: readable (empty), not writable."""

    def _fail(self, *args, **kwargs):
        raise RuntimeError(
            "The session is unavailable because no secret key was set. Set app.secret_key "
            "(config['SECRET_KEY']) to a long random value."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    del _fail


class _CompactJSON:
    """What itsdangerous calls to (de)serialize: compact JSON, no key sorting."""

    @staticmethod
    def loads(value):
        return json.loads(value)

    @staticmethod
    def dumps(value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SessionInterface:
    """Subclass and set ``app.session_interface`` to store sessions elsewhere.

    Same methods as Flask's: ``open_session(app, request)`` returns a session
    object (or None for a null session); ``save_session(app, session,
    response)`` writes it back. The ``get_cookie_*`` helpers read the
    ``SESSION_COOKIE_*`` config keys.
    """

    null_session_class = NullSession
    pickle_based = False

    def make_null_session(self, app):
        return self.null_session_class()

    def is_null_session(self, obj):
        return isinstance(obj, self.null_session_class)

    def get_cookie_name(self, app):
        return _cfg(app, "SESSION_COOKIE_NAME")

    def get_cookie_domain(self, app):
        return _cfg(app, "SESSION_COOKIE_DOMAIN") or None

    def get_cookie_path(self, app):
        return _cfg(app, "SESSION_COOKIE_PATH") or app.config.get("APPLICATION_ROOT") or "/"

    def get_cookie_httponly(self, app):
        return bool(_cfg(app, "SESSION_COOKIE_HTTPONLY"))

    def get_cookie_secure(self, app):
        secure = _cfg(app, "SESSION_COOKIE_SECURE")
        if secure is None:
            request = _cv_request.get(None)
            return request is not None and request.is_secure
        return bool(secure)

    def get_cookie_samesite(self, app):
        return _cfg(app, "SESSION_COOKIE_SAMESITE")

    def get_cookie_partitioned(self, app):
        return bool(_cfg(app, "SESSION_COOKIE_PARTITIONED"))

    def get_expiration_time(self, app, session):
        if session.permanent:
            return time.time() + _lifetime(app)
        return None

    def should_set_cookie(self, app, session):
        return session.modified or (session.permanent and bool(_cfg(app, "SESSION_REFRESH_EACH_REQUEST")))

    def open_session(self, app, request):
        raise NotImplementedError

    def save_session(self, app, session, response):
        raise NotImplementedError


def _lifetime(app):
    value = _cfg(app, "PERMANENT_SESSION_LIFETIME")
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _add_vary_cookie(response):
    headers = response.headers
    vary = headers.get("Vary")
    if not vary:
        headers.set("Vary", "Cookie")
    elif "cookie" not in [v.strip().lower() for v in vary.split(",")]:
        headers.set("Vary", f"{vary}, Cookie")


class SecureCookieSessionInterface(SessionInterface):
    """Sessions in a signed cookie (itsdangerous), the default."""

    salt = "cookie-session"
    digest_method = staticmethod(hashlib.sha256)
    key_derivation = "hmac"
    serializer = _CompactJSON
    session_class = SecureCookieSession

    #: How many verified cookies to remember (see open_session).
    verified_cache_size = 1024

    def __init__(self):
        # (keys, serializer, verified-cookie cache), replaced as one tuple so
        # a thread never pairs one key set's serializer with another's cache.
        self._state: tuple = (None, None, None)

    def get_signing_serializer(self, app):
        """The serializer for the app's current keys, or None without a secret key."""
        state = self._signing_state(app)
        return state[1] if state is not None else None

    def _signing_state(self, app):
        secret = app.secret_key
        if not secret:
            return None
        keys = (*(_cfg(app, "SECRET_KEY_FALLBACKS") or ()), secret)
        state = self._state
        if state[0] == keys:
            return state
        try:
            from itsdangerous import URLSafeTimedSerializer
        except ImportError:
            raise RuntimeError(f"sessions need the 'itsdangerous' package: {_EXTRA_HINT}") from None
        # itsdangerous signs with the last key and verifies with all of them.
        serializer = URLSafeTimedSerializer(
            list(keys), salt=self.salt, serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )
        state = self._state = (keys, serializer, {})
        return state

    def open_session(self, app, request):
        state = self._signing_state(app)
        if state is None:
            return None
        _, s, verified = state
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            sess = self.session_class()
            sess.new = True
            return sess
        max_age = _lifetime(app)
        hit = verified.get(value)
        if hit is not None and time.time() - hit[1] <= max_age:
            # This exact string verified before (same keys: the cache is
            # dropped when they change); only its age needs checking again.
            # The JSON text is kept, not the object, so no request can see
            # another's mutations.
            data = json.loads(hit[0])
        else:
            try:
                data, signed_at = s.loads(value, max_age=max_age, return_timestamp=True)
            except Exception as e:
                # Tampered, expired, signed with a retired key, or not ours at
                # all: start afresh. Never a 500 for what a client sent.
                log.debug("session cookie rejected: %s", type(e).__name__)
                data = None
            else:
                if isinstance(data, dict):
                    if len(verified) >= self.verified_cache_size:
                        verified.clear()
                    verified[value] = (json.dumps(data), signed_at.timestamp())
        if not isinstance(data, dict):
            sess = self.session_class()
            sess.new = True
            return sess
        return self.session_class(data)

    def _cookie_params(self, app):
        secure = self.get_cookie_secure(app)
        samesite = self.get_cookie_samesite(app)
        if samesite is not None and str(samesite).capitalize() == "None" and not secure:
            # Browsers reject SameSite=None without Secure; on plain http
            # fall back to the browser default rather than fail the request.
            samesite = None
        return {
            "domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app), "secure": secure,
            "httponly": self.get_cookie_httponly(app), "samesite": samesite,
            "partitioned": self.get_cookie_partitioned(app),
        }

    def save_session(self, app, session, response):
        if session.accessed:
            _add_vary_cookie(response)
        name = self.get_cookie_name(app)
        if not session:
            if session.modified:
                response.delete_cookie(name, **self._cookie_params(app))
                _add_vary_cookie(response)
            return
        if not self.should_set_cookie(app, session):
            return
        value = self.get_signing_serializer(app).dumps(dict(session))
        if len(value) + len(name) > _COOKIE_WARN_SIZE:
            log.warning(
                "the session cookie is %d bytes; browsers drop cookies over ~4 KiB, "
                "so keep less in the session", len(value) + len(name),
            )
        response.set_cookie(name, value, expires=self.get_expiration_time(app, session),
                            **self._cookie_params(app))
        _add_vary_cookie(response)


# -- the per-request glue, called by App and the proxy ------------------------

def open_request_session(request):
    app = request.app
    iface = app.session_interface
    sess = iface.open_session(app, request)
    if sess is None:
        sess = iface.make_null_session(app)
    request._session = sess
    return sess


def save_request_session(app, request, response):
    sess = request._session
    iface = app.session_interface
    if not iface.is_null_session(sess):
        iface.save_session(app, sess, response)


def _current_session():
    request = _cv_request.get(None)
    if request is None:
        raise _NoContext("Working outside of a request: `session` is only available while a request is handled.")
    sess = request._session
    if sess is None:
        sess = open_request_session(request)
    return sess


class _SessionProxy(_Proxy):
    """``session``: the dict interface too, and truthiness of the session itself."""

    __slots__ = ()

    def __getitem__(self, key):
        return self._hw_get()[key]

    def __setitem__(self, key, value):
        self._hw_get()[key] = value

    def __delitem__(self, key):
        del self._hw_get()[key]

    def __len__(self):
        return len(self._hw_get())

    def __bool__(self):
        try:
            return bool(self._hw_get())
        except _NoContext:
            return False


session = _SessionProxy(_current_session)


def flash(message, category="message"):
    """Keep ``message`` in the session until ``get_flashed_messages`` is called."""
    flashes = session.get("_flashes") or []
    flashes.append([category, message])
    session["_flashes"] = flashes


def get_flashed_messages(with_categories=False, category_filter=()):
    """Messages flashed so far, removed from the session; the same list all request long.

    ``with_categories=True`` gives ``(category, message)`` tuples;
    ``category_filter`` keeps only the listed categories.
    """
    request = _cv_request.get(None)
    if request is None:
        raise _NoContext("get_flashed_messages() needs an active request")
    try:
        flashes = request._flashes
    except AttributeError:
        sess = request._session if request._session is not None else open_request_session(request)
        raw = sess.pop("_flashes") if "_flashes" in sess else []
        flashes = request._flashes = [tuple(item) for item in raw]
    if category_filter:
        flashes = [f for f in flashes if f[0] in category_filter]
    if not with_categories:
        return [f[1] for f in flashes]
    return flashes
