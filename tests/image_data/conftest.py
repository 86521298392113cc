"""Fixtures of these unit tests: an emptied database on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from glimpse.db.engine import Database
from tests.support.units import emptied


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database (SQLite, then PostgreSQL) with every table empty."""
    async with emptied(database_url) as database:
        yield database
