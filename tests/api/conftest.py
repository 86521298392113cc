"""Fixtures of the API tests beyond the shared ones in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.personas import Callers, header_callers
from tests.support.records import Records


@pytest.fixture
def records(client: httpx.AsyncClient, make_settings: Any) -> Iterator[Records]:
    """Direct access to the database behind ``client`` (already emptied by it)."""
    made = Records(make_settings().resolved_database_url)
    yield made
    made.close()


@pytest.fixture
async def rbac(make_client: Any) -> httpx.AsyncClient:
    """A client of an app with Glance's secure-RBAC policy defaults (reader/member/admin
    personas, project scope): what callers with real tokens get."""
    made: httpx.AsyncClient = await make_client(enforce_new_defaults=True)
    return made


@pytest.fixture
async def callers(rbac: httpx.AsyncClient) -> Callers:
    """The personas of the authorisation tests as ``noauth`` identity headers, on
    ``rbac``."""
    return header_callers(rbac)
