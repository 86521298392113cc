"""The SQL of the image cache: each node's entries and prefetch queue (Glance's
centralized_db driver), so that any node can say which nodes hold an image."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.db.tables import cache_queue, cached_images


@dataclass(frozen=True, slots=True)
class CacheEntry:
    image_id: str
    hits: int
    last_accessed: float
    last_modified: float
    size: int


class CacheRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def entries(self, node: str) -> list[CacheEntry]:
        rows = self.conn.execute(
            select(
                cached_images.c.image_id,
                cached_images.c.hits,
                cached_images.c.last_accessed,
                cached_images.c.last_modified,
                cached_images.c.size,
            )
            .where(cached_images.c.node == node)
            .order_by(cached_images.c.last_accessed)
        )
        return [CacheEntry(*row) for row in rows]

    def record(self, node: str, image_id: str, size: int, now: float) -> None:
        self.forget(node, image_id)
        self.conn.execute(
            insert(cached_images).values(
                node=node,
                image_id=image_id,
                size=size,
                hits=0,
                last_accessed=now,
                last_modified=now,
            )
        )

    def hit(self, node: str, image_id: str, now: float) -> bool:
        """Count a read of a cached image; False if this node has no entry for it."""
        found = self.conn.execute(
            update(cached_images)
            .where(cached_images.c.node == node, cached_images.c.image_id == image_id)
            .values(hits=cached_images.c.hits + 1, last_accessed=now)
        )
        return found.rowcount == 1

    def forget(self, node: str, image_id: str | None = None) -> list[str]:
        """Drop this node's entry for ``image_id`` (every entry, if None); their ids."""
        query = delete(cached_images).where(cached_images.c.node == node)
        if image_id is not None:
            query = query.where(cached_images.c.image_id == image_id)
        return list(self.conn.execute(query.returning(cached_images.c.image_id)).scalars())

    def nodes_with(self, image_id: str) -> list[str]:
        return list(
            self.conn.execute(
                select(cached_images.c.node)
                .where(cached_images.c.image_id == image_id)
                .order_by(cached_images.c.node)
            ).scalars()
        )

    def queued(self, node: str) -> list[str]:
        return list(
            self.conn.execute(
                select(cache_queue.c.image_id)
                .where(cache_queue.c.node == node)
                .order_by(cache_queue.c.queued_at, cache_queue.c.image_id)
            ).scalars()
        )

    def enqueue(self, node: str, image_id: str) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(cache_queue).values(node=node, image_id=image_id, queued_at=utcnow())
                )
        except IntegrityError:
            pass  # queued already

    def unqueue(self, node: str, image_id: str | None = None) -> int:
        query = delete(cache_queue).where(cache_queue.c.node == node)
        if image_id is not None:
            query = query.where(cache_queue.c.image_id == image_id)
        return self.conn.execute(query).rowcount

    def claim(self, node: str) -> str | None:
        """Take the oldest image off this node's queue (one process of the node gets it)."""
        for image_id in self.queued(node)[:1]:
            if self.unqueue(node, image_id):
                return image_id
        return None
