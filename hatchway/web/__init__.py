"""hatchway.web: a small, fast WSGI framework with Flask's shape.

    from hatchway.web import App, request

    app = App(__name__)

    @app.get("/hello/<name>")
    def hello(name):
        return {"hello": name, "agent": request.headers.get("User-Agent")}
"""

from .app import App
from .blueprints import Blueprint
from .converters import BaseConverter
from .ctx import copy_current_request_context, current_app, g, has_request_context, request, start_thread
from .datastructures import Headers, HeaderValueError, MultiDict
from .exceptions import HTTPException, abort
from .config import Config
from .files import safe_join, send_file, send_from_directory
from .shortcuts import jsonify, make_response, url_for
from .templating import render_template, render_template_string, stream_template, stream_template_string
from .request import Request
from .response import Response, redirect
from .routing import BuildError, RoutingConflict
from .sessions import SecureCookieSessionInterface, SessionInterface, flash, get_flashed_messages, session
from .uploads import FileStorage, secure_filename

__all__ = [
    "App", "Blueprint", "Request", "Response", "request", "abort", "redirect",
    "g", "current_app", "has_request_context", "copy_current_request_context",
    "start_thread", "HTTPException", "Headers", "HeaderValueError", "MultiDict",
    "BaseConverter", "BuildError", "RoutingConflict",
    "Config", "send_file", "send_from_directory", "safe_join", "jsonify", "make_response", "url_for",
    "render_template", "render_template_string", "stream_template", "stream_template_string",
    "session", "flash", "get_flashed_messages", "SessionInterface", "SecureCookieSessionInterface",
    "FileStorage", "secure_filename",
]
