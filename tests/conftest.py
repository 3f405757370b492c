"""Fixtures every directory may use.  Helpers live in tests/support (`from support import ...`)."""
import pytest

pytest.register_assert_rewrite("support")  # the helpers' asserts explain themselves, as a test's do

from support import RunningServer, thread_modes  # noqa: E402

# Fixtures for real `hatchway serve` processes and load clients, for any directory.
pytest_plugins = ["support.load", "support.serverproc"]

# Every serving-core rule is checked with the app inline on the event loop and with threads (the
# stall hand-off by default; HWTEST_MODE picks one mode for the whole suite: support/rawhttp.py).
THREAD_MODES = thread_modes()


@pytest.fixture(params=THREAD_MODES, ids=lambda t: f"threads{t}")
def threads(request):
    return request.param


@pytest.fixture
def serve(threads):
    """serve(app, validate=True, **options) -> RunningServer; shut down after the test."""
    servers = []

    def start(app, validate=True, **options):
        server = RunningServer(app, threads=threads, validate=validate, **options)
        servers.append(server)
        return server

    yield start
    errors = []
    for server in reversed(servers):
        try:
            server.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    if errors:
        raise errors[0]


# A fixture that starts a real `python -m hatchway` process makes its test slow (about a second to
# start on this machine); the `nginx` fixture needs nginx.  Marked here by rule, so a new test that uses
# them is marked too.  Other slow tests carry @pytest.mark.slow themselves.
MARKS_BY_FIXTURE = {"start_server": ("slow",), "cli": ("slow",), "nginx": ("slow", "nginx")}


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture in MARKS_BY_FIXTURE.keys() & set(getattr(item, "fixturenames", ())):
            for mark in MARKS_BY_FIXTURE[fixture]:
                item.add_marker(mark)
