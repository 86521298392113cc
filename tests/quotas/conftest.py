"""The import tests' fixtures (two stores and a staging store; an HTTP server to
download from), for the limits of stage and import."""

from tests.imports.conftest import import_settings, web

__all__ = ["import_settings", "web"]
