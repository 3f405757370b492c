"""Folders beside the code: ``root_path``, static files, template folders.

Shared by App and Blueprint (through Scaffold), with Flask's defaults: an
app has a ``static`` folder served at ``/static/<path:filename>`` and a
``templates`` folder, both relative to ``root_path``, the directory of the
module named by ``import_name``.
"""

import datetime
import importlib.util
import os
import sys

__all__ = ["get_root_path", "Folders"]


def get_root_path(import_name):
    """The directory of the module ``import_name`` (the current directory if unknown)."""
    mod = sys.modules.get(import_name)
    path = getattr(mod, "__file__", None) if mod is not None else None
    if path is None:
        try:
            spec = importlib.util.find_spec(import_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin not in (None, "namespace", "built-in", "frozen"):
            path = spec.origin
        elif spec is not None and spec.submodule_search_locations:
            return os.path.abspath(list(spec.submodule_search_locations)[0])
    if path is None:
        return os.getcwd()
    return os.path.dirname(os.path.abspath(path))


class Folders:
    """The folder-related part of Scaffold."""

    def _init_folders(self, import_name, static_folder, static_url_path, template_folder, root_path):
        self.root_path = os.path.abspath(root_path) if root_path else get_root_path(import_name)
        self._static_folder = os.fspath(static_folder) if static_folder is not None else None
        if static_url_path is not None:
            static_url_path = static_url_path.rstrip("/")
        self._static_url_path = static_url_path
        self.template_folder = os.fspath(template_folder) if template_folder is not None else None
        # Functions returning dicts merged into every template's context.
        self.template_context_processors = []

    @property
    def static_folder(self):
        """Absolute path of the static folder, or None."""
        if self._static_folder is None:
            return None
        return os.path.join(self.root_path, self._static_folder)

    @static_folder.setter
    def static_folder(self, value):
        self._static_folder = os.fspath(value).rstrip("/\\") if value is not None else None

    @property
    def has_static_folder(self):
        return self._static_folder is not None

    @property
    def static_url_path(self):
        """URL prefix of the static files: ``/`` + the folder's name unless set."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self._static_folder is not None:
            name = os.path.basename(self._static_folder.rstrip("/\\"))
            return f"/{name}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value):
        self._static_url_path = value.rstrip("/") if value is not None else None

    def get_send_file_max_age(self, filename):
        """Cache lifetime for static files: ``SEND_FILE_MAX_AGE_DEFAULT`` (None: ``no-cache``)."""
        app = getattr(self, "_app_for_config", None) or self
        config = getattr(app, "config", None)
        if config is None:
            from .appctx import current_app_or_none

            current = current_app_or_none()
            config = current.config if current is not None else {}
        value = config.get("SEND_FILE_MAX_AGE_DEFAULT")
        if isinstance(value, datetime.timedelta):
            return int(value.total_seconds())
        return value

    def send_static_file(self, filename):
        """The view behind the ``static`` endpoint."""
        from .exceptions import NotFound
        from .files import send_from_directory

        if not self.has_static_folder:
            raise NotFound()
        return send_from_directory(self.static_folder, filename, max_age=self.get_send_file_max_age(filename))

    def open_resource(self, resource, mode="rb"):
        """Open a file relative to ``root_path`` for reading."""
        if mode not in ("r", "rt", "rb"):
            raise ValueError("resources can only be opened for reading")
        return open(os.path.join(self.root_path, resource), mode)

    def context_processor(self, func):
        """Register ``func() -> dict`` to add variables to templates (this scope's requests)."""
        self.template_context_processors.append(func)
        return func
