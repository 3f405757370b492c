"""What the app does when handling a request fails: find the error handler, answer 500, tear down.

A mixin of :class:`~hatchway.web.app.App`, kept apart because none of it runs
on a request that succeeds. Error handlers and hooks are resolved per rule at
startup (``rule.payload``: the app's ``_Target``); requests that matched no
rule use the app's own target.
"""

import logging
import traceback
from collections.abc import Callable
from typing import Any

from .errors import render_error
from .exceptions import HTTPException, InternalServerError

__all__ = ["ErrorHandling"]


class ErrorHandling:
    """Error-handler lookup, 500 responses, after hooks on error responses and teardown (mixed into App)."""

    # What this mixin uses of App.
    config: Any
    logger: logging.Logger
    debug: bool
    _app_target: Any
    finalize: Callable[..., Any]
    make_response: Callable[..., Any]

    def _handler_for(self, request, exc):
        rule = request.url_rule
        scopes = (rule.payload if rule is not None else self._app_target).handler_scopes
        if not scopes:
            return None
        code = exc.code if isinstance(exc, HTTPException) else None
        mro = type(exc).__mro__
        for handlers in scopes:
            for key in (code, None) if code is not None else (None,):
                table = handlers.get(key)
                if table:
                    for cls in mro:
                        func = table.get(cls)
                        if func is not None:
                            return func
        return None

    def handle_exception(self, request, exc):
        """Produce the response for an exception raised while handling ``request``."""
        handler = self._handler_for(request, exc)
        if handler is not None:
            try:
                return self.finalize(request, handler(exc))
            except HTTPException as e:
                # The handler re-raised or aborted: render that error plainly
                # (no second handler lookup, so handlers cannot loop).
                exc = e
            except Exception as e:
                return self._unhandled(request, e)
        if isinstance(exc, HTTPException):
            if exc.response is not None:
                return self._finalize_error(request, self.make_response(exc.response))
            return self._finalize_error(request, render_error(exc, request.environ))
        return self._unhandled(request, exc)

    def _unhandled(self, request, exc):
        request._error = exc
        if self.config["PROPAGATE_EXCEPTIONS"]:
            raise exc
        self.logger.error(
            "Exception on %s %s [%s]", request.method, request.path,
            type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__),
        )
        server_error = InternalServerError(original_exception=exc)
        handler = self._handler_for(request, server_error)
        if handler is not None:
            try:
                return self._finalize_error(request, self.make_response(handler(server_error)))
            except Exception:
                self.logger.exception("the 500 error handler itself failed")
        debug_text = None
        if self.debug:
            debug_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return self._finalize_error(request, render_error(server_error, request.environ, debug_text))

    def _finalize_error(self, request, response):
        """Run after hooks on an error response; a failing hook cannot make it worse."""
        rule = request.url_rule
        after = (rule.payload if rule is not None else self._app_target).after
        for func in after:
            try:
                out = func(response)
                if out is not None:
                    response = out
            except Exception:
                self.logger.exception("after_request hook %r failed on an error response", func)
        return response

    def _do_teardown(self, request, exc):
        """Run every teardown hook; one failing does not skip the others."""
        rule = request.url_rule
        funcs = (rule.payload if rule is not None else self._app_target).teardown
        for func in funcs:
            try:
                func(exc)
            except Exception:
                self.logger.exception("teardown_request hook %r failed", func)
