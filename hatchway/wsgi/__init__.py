"""hatchway.wsgi: the PEP 3333 gateway and Werkzeug-compatible make_server / run_simple."""
from .filewrapper import FileWrapper
from .serving import WSGIServer, make_server, run_simple

__all__ = ["FileWrapper", "WSGIServer", "make_server", "run_simple"]
