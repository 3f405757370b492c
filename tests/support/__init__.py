"""What every test directory shares, imported the same way everywhere: `from support import wait_for, Conn`.

pyproject's [tool.pytest.ini_options] pythonpath puts tests/ on sys.path (the one mechanism; no test
changes sys.path).  The pieces: wait.py (wait_for, DEADLINE), rawhttp.py (the raw client Conn, the
in-process servers RunningServer and serving, the Recorder app, HWTEST_MODE), procs.py (free ports,
`python -m hatchway` children).
"""
from support.procs import ROOT, Proc, can_connect, free_port, load_module
from support.rawhttp import (
    DEFAULT_TIMEOUT,
    TEST_MODE,
    Closed,
    Conn,
    Recorder,
    Rejection,
    Response,
    RunningServer,
    connect,
    server_mode,
    serving,
    sha256,
    thread_modes,
)
from support.wait import DEADLINE, wait_for

__all__ = [
    "DEADLINE", "DEFAULT_TIMEOUT", "ROOT", "TEST_MODE", "Closed", "Conn", "Proc", "Recorder", "Rejection",
    "Response", "RunningServer", "can_connect", "connect", "free_port", "load_module", "server_mode", "serving",
    "sha256", "thread_modes", "wait_for",
]
