"""Where an import job's attempts are writing, so that a dead attempt leaves nothing behind.

Each store writer's partial object is recorded with the task before the first byte is
written and forgotten once the write is committed or aborted. A worker that dies keeps
its rows: the next attempt (the task's lease ran out, another worker claimed it) removes
what they name before it starts, and so does failing the task. The lease makes the
dead attempt's writes over by then; one that merely lost its lease has its partial
object taken from under it, and its commit fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from sqlalchemy import Connection, delete, insert, select

from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import task_partials
from glimpse.images.removal import DataRemoval
from glimpse.model.images import Location
from glimpse.stores.base import StoreWriter


class PartialRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, task_id: str, partial: Location) -> int:
        added = self.conn.execute(
            insert(task_partials).values(task_id=task_id, store=partial.store, location=partial.url)
        )
        assert added.inserted_primary_key is not None
        row_id: int = added.inserted_primary_key[0]
        return row_id

    def forget(self, row_id: int) -> None:
        self.conn.execute(delete(task_partials).where(task_partials.c.id == row_id))

    def of_task(self, task_id: str) -> list[tuple[int, Location]]:
        rows = self.conn.execute(
            select(task_partials.c.id, task_partials.c.store, task_partials.c.location).where(
                task_partials.c.task_id == task_id
            )
        )
        return [(row.id, Location(url=row.location, store=row.store)) for row in rows]


class Partials:
    def __init__(self, db: Database, removal: DataRemoval) -> None:
        self.partials = UnitsOfWork(db, PartialRepository)
        self.removal = removal

    @contextlib.asynccontextmanager
    async def writing(self, task_id: str, store: str, writer: StoreWriter) -> AsyncIterator[None]:
        """Around a write that the body commits or aborts: its partial object recorded."""
        where = Location(url=writer.partial_location, store=store)
        row_id = await self.partials.write(lambda repo: repo.add(task_id, where))
        try:
            yield
        finally:
            await self.partials.write(lambda repo: repo.forget(row_id))

    async def sweep(self, task_id: str) -> None:
        """Remove what earlier attempts of the task left half-written."""
        for row_id, where in await self.partials.read(lambda repo: repo.of_task(task_id)):
            await self.removal.remove(where)  # gone already: fine; refused: retried later
            await self.partials.write(partial(PartialRepository.forget, row_id=row_id))
