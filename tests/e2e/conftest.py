"""Fixtures for the end-to-end tests: the URL of a real glimpse server on an empty database.

The server itself is the session fixture ``server`` (one per database backend) and the
database is emptied by ``live`` (both in ``tests/conftest.py``).
"""

from __future__ import annotations

import httpx
import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def endpoint(live: httpx.Client, server: ServerProcess) -> str:
    """The image endpoint of a real glimpse server in ``noauth`` mode, with no images."""
    return server.url
