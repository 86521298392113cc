"""Helpers of the unit tests of repositories and services: an emptied database, images
to put in it, and the rows of a table read straight back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, delete, func, select

from glimpse.db.engine import Database
from glimpse.db.tables import metadata
from glimpse.model.images import Image


def empty(db: Database) -> None:
    """Delete every row of every table."""
    with db.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))


@asynccontextmanager
async def emptied(url: str) -> AsyncIterator[Database]:
    """A :class:`Database` on ``url`` with every table emptied, closed afterwards."""
    db = Database(url, pool_size=4)
    try:
        empty(db)
        yield db
    finally:
        await db.aclose()


def new_image(**fields: Any) -> Image:
    """An image with a fresh id (and whatever ``fields`` say)."""
    fields.setdefault("id", str(uuid.uuid4()))
    return Image(**fields)


def count_rows(db: Database, table: Table, **where: Any) -> int:
    """How many rows of ``table`` match ``where`` (column = value), read outside any unit
    of work."""
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def rows(db: Database, table: Table, *columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of every row of ``table``, sorted."""
    query = select(*(table.c[name] for name in columns))
    with db.engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(query))
