"""The import tests' fixtures (two stores and a staging store), for the limits of stage
and import (the HTTP server to download from is the root conftest's ``web``)."""

from tests.imports.conftest import import_settings

__all__ = ["import_settings"]
