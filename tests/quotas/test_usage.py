"""The usage query, row by row, against Glance's way of counting (real SQLite and
PostgreSQL), and the plan PostgreSQL makes of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Connection, text, update

from glimpse.db.engine import Database
from glimpse.db.tables import images
from glimpse.images.repository import ImageRepository
from glimpse.model.images import Image, Location
from glimpse.quotas.usage import MIB, Usage, usage_of, usage_query
from tests.support.units import emptied


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with emptied(database_url) as database:
        yield database


def add(
    repo: ImageRepository,
    status: str,
    size: int | None,
    *,
    owner: str = "alpha",
    copies: int = 0,
    importing_to: str | None = None,
    deleted: bool = False,
) -> None:
    image_id = str(uuid.uuid4())
    properties = {} if importing_to is None else {"os_glance_importing_to_stores": importing_to}
    repo.add_image(Image(id=image_id, status=status, size=size, owner=owner, properties=properties))
    for number in range(copies):
        repo.add_location(image_id, Location(url=f"file:///{image_id}/{number}", store="s"))
    if deleted:
        repo.conn.execute(update(images).where(images.c.id == image_id).values(deleted=True))


async def test_usage_counts_each_kind_of_image(db: Database) -> None:
    def fill(conn: Connection) -> None:
        repo = ImageRepository(conn)
        add(repo, "active", 3 * MIB, copies=2)  # stored twice: 6 MiB
        add(repo, "active", 2 * MIB, copies=1, importing_to="cheap")  # and being copied
        add(repo, "active", MIB, copies=1, importing_to="")  # a finished copy
        add(repo, "queued", None)
        add(repo, "saving", None)
        add(repo, "uploading", 5 * MIB)  # staged
        add(repo, "importing", 7 * MIB)
        add(repo, "deactivated", MIB, copies=1)
        add(repo, "pending_delete", 4 * MIB, copies=1)  # gone from every count
        add(repo, "deleted", 4 * MIB, deleted=True)
        add(repo, "killed", 4 * MIB)
        add(repo, "active", 9 * MIB, copies=1, owner="beta")

    await db.write(fill)
    found = await db.read(lambda conn: usage_of(conn, "alpha"))
    assert found == Usage(
        size_bytes=(6 + 2 + 1 + 1) * MIB,
        staged_bytes=(2 + 5 + 7) * MIB,
        images=8,
        uploading=4,  # saving, uploading, importing, the copy
    )
    assert await db.read(lambda conn: usage_of(conn, "nobody")) == Usage(0, 0, 0, 0)


async def test_one_project_is_read_from_an_index(db: Database, backend: str) -> None:
    def plan(conn: Connection) -> str:
        compiled = usage_query("alpha").compile(conn, compile_kwargs={"literal_binds": True})
        if backend == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table
            return "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {compiled}")))
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
        return "\n".join(str(row[-1]) for row in rows)

    found = await db.read(plan)
    assert "ix_images_owner" in found or "ix_images_live_owner" in found, found
