"""hatchway: a Python web stack from the socket to the view function.

Layers, dependencies pointing down only:
    hatchway.web     the micro framework (speaks only WSGI)
    hatchway.wsgi    the PEP 3333 gateway, make_server / run_simple
    hatchway.http    HTTP/1.1 as a sans-I/O state machine
    hatchway.server  listeners, the event-loop worker, the thread pool

`hatchway.serve(app, **settings)` is the one way in that the CLI, run_simple and App.run share.
"""
__version__ = "0.1.0"


def serve(app=None, **settings):
    """Serve a WSGI app with the settings of `hatchway serve --help` (see hatchway.launch.serve)."""
    from .launch import serve as _serve

    return _serve(app, **settings)


def run_simple(*args, **kwargs):
    from .wsgi import run_simple as _run_simple

    return _run_simple(*args, **kwargs)


def make_server(*args, **kwargs):
    from .wsgi import make_server as _make_server

    return _make_server(*args, **kwargs)
