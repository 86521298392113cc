"""The SQL of orphaned data: stored bytes whose image is gone but which a store could not
remove at the time; housekeeping retries them until they are gone."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from glimpse.clock import utcnow
from glimpse.db.tables import orphaned_data
from glimpse.model.images import Location


class OrphanRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, location: Location) -> int:
        result = self.conn.execute(
            insert(orphaned_data).values(
                store=location.store or "", location=location.url, created_at=utcnow()
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def claim(self, limit: int = 100) -> list[tuple[int, Location]]:
        """Some orphans to retry. (Two nodes may retry the same one at once: the rows are
        locked only while they are claimed, and deleting data twice is harmless.)"""
        query = select(orphaned_data.c.id, orphaned_data.c.store, orphaned_data.c.location).limit(
            limit
        )
        return [
            (r.id, Location(url=r.location, store=r.store or None))
            for r in self.conn.execute(query)
        ]

    def forget(self, orphan_id: int) -> None:
        self.conn.execute(delete(orphaned_data).where(orphaned_data.c.id == orphan_id))
