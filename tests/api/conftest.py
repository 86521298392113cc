"""Fixtures of the API tests beyond the shared ones in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.records import Records


@pytest.fixture
def records(client: httpx.AsyncClient, make_settings: Any) -> Iterator[Records]:
    """Direct access to the database behind ``client`` (already emptied by it)."""
    made = Records(make_settings().resolved_database_url)
    yield made
    made.close()
