import pytest

from support import Proc


@pytest.fixture
def cli():
    procs = []

    def start(*args, **kwargs):
        proc = Proc(list(args), **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop(9)
        proc.log.unlink(missing_ok=True)
