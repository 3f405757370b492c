"""Signed-cookie sessions and flash messages, through the test client and real HTTP (requests)."""

import logging
import sys
import time
from datetime import timedelta

import itsdangerous
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from hatchway.web import (
    App, SessionInterface, abort, flash, get_flashed_messages, redirect, request, session,
)

KEY = "test-secret-key-0123456789abcdef"


def make_app(**config):
    app = App(__name__, config=config)
    app.secret_key = config.get("SECRET_KEY", KEY)

    @app.get("/set/<key>/<value>")
    def set_(key, value):
        session[key] = value
        return "ok"

    @app.get("/get")
    def get():
        return {"session": dict(session.items()), "len": len(session), "truthy": bool(session)}

    @app.get("/untouched")
    def untouched():
        return "no session here"

    @app.get("/permanent")
    def permanent():
        session.permanent = True
        session["p"] = "1"
        return "ok"

    @app.get("/clear")
    def clear():
        session.clear()
        return "cleared"

    @app.get("/forbid")
    def forbid():
        session["tried"] = "yes"
        abort(403)

    @app.get("/dict")
    def dict_ops():
        session["a"] = 1
        session.setdefault("b", [1, 2])
        out = {"in": "a" in session, "get": session.get("missing", "dflt"), "keys": sorted(session.keys())}
        del session["a"]
        out["pop"] = session.pop("b")
        out["after"] = dict(session.items())
        session.update(c=3)
        out["iter"] = list(session)
        return out

    return app


def set_cookie_headers(r):
    return [v for k, v in r.headers.items() if k.lower() == "set-cookie"]


def cookie_attrs(header):
    first, *rest = [p.strip() for p in header.split(";")]
    attrs = {}
    for p in rest:
        k, _, v = p.partition("=")
        attrs[k.lower()] = v
    return first, attrs


def test_session_round_trip_and_safe_cookie_defaults():
    c = make_app().test_client()
    r = c.get("/set/user/alice")
    [header] = set_cookie_headers(r)
    first, attrs = cookie_attrs(header)
    assert first.startswith("session=")
    assert "httponly" in attrs and attrs["samesite"] == "Lax" and attrs["path"] == "/"
    assert "secure" not in attrs  # plain http
    assert "expires" not in attrs and "max-age" not in attrs  # a browser session by default
    assert "Cookie" in r.headers.get("Vary")
    r = c.get("/get")
    assert r.get_json() == {"session": {"user": "alice"}, "len": 1, "truthy": True}
    assert r.headers.get("Vary") == "Cookie"
    assert set_cookie_headers(r) == []  # read, not modified: not re-sent


def test_untouched_session_costs_nothing_on_the_wire():
    c = make_app().test_client()
    c.get("/set/a/b")
    r = c.get("/untouched")
    assert set_cookie_headers(r) == [] and "Vary" not in r.headers


def test_secure_follows_https_and_every_attribute_is_configurable():
    r = make_app().test_client(base_url="https://example.com").get("/set/a/b")
    assert "secure" in cookie_attrs(set_cookie_headers(r)[0])[1]
    app = make_app(SESSION_COOKIE_SECURE=False, SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_SAMESITE="Strict",
                   SESSION_COOKIE_NAME="sid", SESSION_COOKIE_DOMAIN="example.com", SESSION_COOKIE_PATH="/app",
                   SESSION_COOKIE_PARTITIONED=False)
    r = app.test_client(base_url="https://example.com").get("/set/a/b")
    first, attrs = cookie_attrs(set_cookie_headers(r)[0])
    assert first.startswith("sid=")
    assert attrs == {"domain": "example.com", "path": "/app", "samesite": "Strict"}
    r = make_app(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_SAMESITE="None").test_client().get("/set/a/b")
    attrs = cookie_attrs(set_cookie_headers(r)[0])[1]
    assert "secure" in attrs and attrs["samesite"] == "None"
    r = make_app(SESSION_COOKIE_SAMESITE=None).test_client().get("/set/a/b")
    assert "samesite" not in cookie_attrs(set_cookie_headers(r)[0])[1]


def _tamper(value):
    payload, _, rest = value.partition(".")
    return ("e" if payload[0] != "e" else "f") + payload[1:] + "." + rest


@pytest.mark.parametrize("cookie", [
    "garbage", "", ".", "a.b.c", "eyJ1c2VyIjoiYWRtaW4ifQ.AAAA.BBBB", "x" * 5000, "\"quoted\\073\"",
])
def test_bad_cookies_are_an_empty_session(cookie):
    c = make_app().test_client()
    c.set_cookie("session", cookie)
    r = c.get("/get")
    assert r.status_code == 200 and r.get_json()["session"] == {}


def test_tampered_cookie_is_an_empty_session():
    c = make_app().test_client()
    c.get("/set/user/alice")
    good = c.cookies["session"].value
    c.set_cookie("session", _tamper(good))
    assert c.get("/get").get_json()["session"] == {}
    c.set_cookie("session", good)
    assert c.get("/get").get_json()["session"] == {"user": "alice"}


def _serializer(key, signer=TimestampSigner):
    iface = App(__name__).session_interface
    return URLSafeTimedSerializer(key, salt=iface.salt, serializer=iface.serializer, signer=signer,
                                  signer_kwargs={"key_derivation": iface.key_derivation,
                                                 "digest_method": iface.digest_method})


def test_expired_cookie_is_an_empty_session():
    class SignedAnHourAgo(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 3600

    old = _serializer(KEY, SignedAnHourAgo).dumps({"user": "alice"})
    fresh = _serializer(KEY).dumps({"user": "alice"})
    c = make_app(PERMANENT_SESSION_LIFETIME=timedelta(minutes=30)).test_client()
    c.set_cookie("session", old)
    assert c.get("/get").get_json()["session"] == {}
    c.set_cookie("session", fresh)
    assert c.get("/get").get_json()["session"] == {"user": "alice"}
    # Lifetime as plain seconds works too.
    c = make_app(PERMANENT_SESSION_LIFETIME=7200).test_client()
    c.set_cookie("session", old)
    assert c.get("/get").get_json()["session"] == {"user": "alice"}


def test_secret_key_rotation_with_fallbacks():
    old_cookie = _serializer("old-key").dumps({"user": "alice"})
    c = make_app(SECRET_KEY="new-key").test_client()
    c.set_cookie("session", old_cookie)
    assert c.get("/get").get_json()["session"] == {}  # unknown key: logged out
    c = make_app(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS=["older-key", "old-key"]).test_client()
    c.set_cookie("session", old_cookie)
    assert c.get("/get").get_json()["session"] == {"user": "alice"}
    c.get("/set/seen/1")  # modified: re-signed with the new key, never a fallback
    new_cookie = c.cookies["session"].value
    assert _serializer("new-key").loads(new_cookie) == {"user": "alice", "seen": "1"}
    with pytest.raises(itsdangerous.BadSignature):
        _serializer("old-key").loads(new_cookie)


def test_permanent_session_and_refresh_each_request():
    c = make_app(PERMANENT_SESSION_LIFETIME=timedelta(days=2)).test_client()
    r = c.get("/permanent")
    attrs = cookie_attrs(set_cookie_headers(r)[0])[1]
    from email.utils import parsedate_to_datetime

    expires = parsedate_to_datetime(attrs["expires"]).timestamp()
    assert abs(expires - (time.time() + 2 * 86400)) < 120
    # Permanent and unmodified: re-sent on each request that reads it (sliding expiry) ...
    assert len(set_cookie_headers(c.get("/get"))) == 1
    # ... unless SESSION_REFRESH_EACH_REQUEST is off.
    c = make_app(SESSION_REFRESH_EACH_REQUEST=False).test_client()
    c.get("/permanent")
    assert set_cookie_headers(c.get("/get")) == []


def test_clearing_the_session_deletes_the_cookie():
    c = make_app().test_client()
    c.get("/set/a/b")
    r = c.get("/clear")
    [header] = set_cookie_headers(r)
    assert header.startswith("session=;") and "Max-Age=0" in header
    assert "session" not in c.cookies


def test_dict_interface_through_the_proxy():
    r = make_app().test_client().get("/dict")
    assert r.get_json() == {"in": True, "get": "dflt", "keys": ["a", "b"], "pop": [1, 2], "after": {},
                            "iter": ["c"]}


def test_session_is_saved_on_error_responses_too():
    c = make_app().test_client()
    r = c.get("/forbid")
    assert r.status_code == 403 and set_cookie_headers(r)
    assert c.get("/get").get_json()["session"] == {"tried": "yes"}


def test_no_secret_key_reads_empty_and_writes_fail_loudly(caplog):
    app = App(__name__)

    @app.get("/read")
    def read():
        return {"user": session.get("user"), "truthy": bool(session)}

    @app.get("/write")
    def write():
        session["user"] = "x"
        return "unreachable"

    c = app.test_client()
    assert c.get("/read").get_json() == {"user": None, "truthy": False}
    with caplog.at_level(logging.ERROR, "hatchway.web"):
        r = c.get("/write")
    assert r.status_code == 500 and set_cookie_headers(r) == []
    assert "no secret key was set" in caplog.text


def test_session_outside_a_request():
    assert not session
    with pytest.raises(RuntimeError, match="outside of a request"):
        session["x"] = 1


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, blacklist_characters=";,"),
               max_size=300))
@pytest.mark.slow
def test_arbitrary_cookie_values_never_give_a_500(value):
    c = make_app().test_client()
    r = c.get("/get", headers={"Cookie": f"session={value}"})
    assert r.status_code == 200 and r.get_json()["session"] == {}


def test_flash_and_get_flashed_messages():
    app = make_app()

    @app.post("/login")
    def login():
        flash("Welcome back")
        flash("Password expires soon", "warning")
        flash("Disk almost full", "error")
        return redirect("/home", 303)

    @app.get("/home")
    def home():
        first = get_flashed_messages()
        return {
            "plain": first,
            "again": get_flashed_messages(),  # the same list all request long
            "cats": [list(m) for m in get_flashed_messages(with_categories=True)],
            "errors": get_flashed_messages(category_filter=["error"]),
            "warn_cat": [list(m) for m in get_flashed_messages(True, ["warning"])],
        }

    c = app.test_client()
    r = c.post("/login", follow_redirects=True)
    assert r.get_json() == {
        "plain": ["Welcome back", "Password expires soon", "Disk almost full"],
        "again": ["Welcome back", "Password expires soon", "Disk almost full"],
        "cats": [["message", "Welcome back"], ["warning", "Password expires soon"], ["error", "Disk almost full"]],
        "errors": ["Disk almost full"],
        "warn_cat": [["warning", "Password expires soon"]],
    }
    assert c.get("/home").get_json()["plain"] == []  # shown once


def test_pluggable_session_interface():
    store = {}

    class ServerSide(dict):
        accessed = modified = False
        permanent = False

        def __init__(self, sid, data=()):
            super().__init__(data)
            self.sid = sid

        def __setitem__(self, k, v):
            self.modified = True
            super().__setitem__(k, v)

    class StoreInterface(SessionInterface):
        def open_session(self, app, request):
            sid = request.cookies.get("sid") or f"s{len(store) + 1}"
            return ServerSide(sid, store.get(sid, {}))

        def save_session(self, app, sess, response):
            if sess.modified:
                store[sess.sid] = dict(sess)
                response.set_cookie("sid", sess.sid, httponly=True, samesite="Lax")

    app = make_app()
    app.session_interface = StoreInterface()
    c = app.test_client()
    r = c.get("/set/user/bob")
    assert set_cookie_headers(r) == ["sid=s1; HttpOnly; Path=/; SameSite=Lax"]
    assert store == {"s1": {"user": "bob"}}
    assert c.get("/get").get_json()["session"] == {"user": "bob"}


def test_missing_itsdangerous_fails_at_startup_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "itsdangerous", None)
    app = App(__name__)
    app.secret_key = "k"
    with pytest.raises(RuntimeError) as e:
        app.startup()
    assert str(e.value) == "sessions need the 'itsdangerous' package: pip install 'hatchway[web]'"


def test_sessions_over_real_http_with_requests(serve):
    app = make_app()

    @app.post("/login")
    def login():
        session["user"] = request.form["user"]
        session.permanent = request.form.get("remember") == "1"
        flash(f"Hello {session['user']}")
        return redirect("/whoami", 303)

    @app.get("/whoami")
    def whoami():
        return {"user": session.get("user"), "flashes": get_flashed_messages()}

    base = serve(app)
    with requests.Session() as s:
        r = s.post(base + "/login", data={"user": "alice", "remember": "1"}, timeout=10)
        assert r.status_code == 200
        assert r.json() == {"user": "alice", "flashes": ["Hello alice"]}
        [login] = r.history
        raw = login.raw.headers.getlist("Set-Cookie")
        assert len(raw) == 1 and "HttpOnly" in raw[0] and "SameSite=Lax" in raw[0] and "Expires=" in raw[0]
        assert "Cookie" in login.headers["Vary"]
        assert s.get(base + "/whoami", timeout=10).json() == {"user": "alice", "flashes": []}
        # Tampering in the cookie jar: an empty session, not an error.
        good = s.cookies["session"]
        s.cookies.clear()
        s.cookies.set("session", _tamper(good))
        r = s.get(base + "/whoami", timeout=10)
        assert r.status_code == 200 and r.json() == {"user": None, "flashes": []}


def test_verified_cookie_cache_shares_no_objects_and_still_expires(monkeypatch):
    from hatchway.web import sessions as sessions_mod

    app = make_app(PERMANENT_SESSION_LIFETIME=timedelta(minutes=30))

    @app.get("/init")
    def init():
        session["items"] = [1]
        return "ok"

    @app.get("/mutate")
    def mutate():
        # Mutating a nested value without marking the session modified: not saved,
        # and must not leak into the next request through the verified-cookie cache.
        session["items"].append(2)
        return {"items": session["items"]}

    c = app.test_client()
    c.get("/init")
    assert c.get("/mutate").get_json() == {"items": [1, 2]}
    assert c.get("/mutate").get_json() == {"items": [1, 2]}
    # Cached or not, a cookie older than the lifetime is refused.
    real = time.time
    monkeypatch.setattr(sessions_mod.time, "time", lambda: real() + 3600)
    assert c.get("/get").get_json()["session"] == {}


def test_apps_with_different_keys_never_accept_each_others_cookies():
    # Both apps share the class-level interface (as in Flask) and so its cache.
    one, two = make_app(SECRET_KEY="key-one"), make_app(SECRET_KEY="key-two")
    assert one.session_interface is two.session_interface
    c1, c2 = one.test_client(), two.test_client()
    c1.get("/set/app/one")
    c2.get("/set/app/two")
    cookie1, cookie2 = c1.cookies["session"].value, c2.cookies["session"].value
    for _ in range(2):  # the second pass runs on warm caches
        for app, mine, theirs, name in ((one, cookie1, cookie2, "one"), (two, cookie2, cookie1, "two")):
            c = app.test_client()
            c.set_cookie("session", mine)
            assert c.get("/get").get_json()["session"] == {"app": name}
            c.set_cookie("session", theirs)
            assert c.get("/get").get_json()["session"] == {}


def test_fallback_key_lists_are_per_app():
    one, two = App(__name__), App(__name__)
    one.config["SECRET_KEY_FALLBACKS"].append("old")
    assert two.config["SECRET_KEY_FALLBACKS"] == []


@pytest.mark.slow
def test_session_cookie_is_secure_over_real_https(tmp_path):
    import threading

    import trustme

    from hatchway.wsgi import make_server

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    server = make_server("127.0.0.1", 0, make_app(), threaded=True,
                         ssl_context=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with requests.Session() as s:
            ca_file = str(tmp_path / "ca.pem")  # per request: REQUESTS_CA_BUNDLE would beat Session.verify
            r = s.get(f"https://127.0.0.1:{port}/set/user/alice", timeout=10, verify=ca_file)
            [raw] = r.raw.headers.getlist("Set-Cookie")
            assert "; Secure" in raw and "HttpOnly" in raw and "SameSite=Lax" in raw
            # requests sends a Secure cookie back over https only: the session round-trips.
            r = s.get(f"https://127.0.0.1:{port}/get", timeout=10, verify=ca_file)
            assert r.json()["session"] == {"user": "alice"}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert not thread.is_alive()


def test_after_request_hooks_see_and_change_the_session():
    app = make_app()

    @app.after_request
    def count_views(response):
        session["views"] = session.get("views", 0) + 1
        return response

    c = app.test_client()
    c.get("/untouched")
    c.get("/untouched")
    assert c.get("/get").get_json()["session"] == {"views": 2}
