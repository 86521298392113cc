"""The SQL of uploads in flight: their leases, over the connection of one unit of work.

Entering ``saving`` records a lease naming the upload's partial data; the uploader renews
it while it streams and releases it when it finishes. A lease that expired marks an
upload whose node died: any node's housekeeping claims it, returns the image to
``queued`` and removes the partial data. Staged import data is recorded here too, until
its import ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from glimpse.clock import utcnow
from glimpse.db.tables import image_staged, image_uploads
from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.model.images import Location


@dataclass(frozen=True, slots=True)
class Lease:
    image_id: str
    partial: Location  # where the upload's bytes are until it finishes


class UploadRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        # the image being uploaded, changed in the same transaction as its lease
        self.images = ImageRepository(conn)

    def take_lease(self, lease: Lease, node: str, expires_at: datetime) -> None:
        self.conn.execute(delete(image_uploads).where(image_uploads.c.image_id == lease.image_id))
        self.conn.execute(
            insert(image_uploads).values(
                image_id=lease.image_id,
                store=lease.partial.store,
                location=lease.partial.url,
                node=node,
                expires_at=expires_at,
            )
        )

    def renew_lease(self, lease: Lease, expires_at: datetime) -> bool:
        """Extend a lease; False when it is no longer this upload's (its image was
        deleted, or the upload was given up for dead) or the image cannot finish."""
        result = self.conn.execute(
            update(image_uploads)
            .where(
                image_uploads.c.image_id == lease.image_id,
                image_uploads.c.location == lease.partial.url,
            )
            .values(expires_at=expires_at)
        )
        if result.rowcount != 1:
            return False
        status = self.images.get_status(lease.image_id)
        return status is not None and status in Move.FINISH_UPLOAD.sources

    def release_lease(self, lease: Lease) -> bool:
        """Drop this upload's lease; False if it was not held any more."""
        result = self.conn.execute(
            delete(image_uploads).where(
                image_uploads.c.image_id == lease.image_id,
                image_uploads.c.location == lease.partial.url,
            )
        )
        return result.rowcount == 1

    def claim_expired(self, now: datetime, limit: int = 100) -> list[Lease]:
        """Expired leases, dropped (each claimed by one node only: rows another node is
        claiming are skipped on PostgreSQL)."""
        query = (
            select(image_uploads.c.image_id, image_uploads.c.store, image_uploads.c.location)
            .where(image_uploads.c.expires_at < now)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        found = [
            Lease(r.image_id, Location(url=r.location, store=r.store))
            for r in self.conn.execute(query)
        ]
        for lease in found:
            self.release_lease(lease)
        return found

    # ----------------------------------------------------------- staged data

    def staged(self, image_id: str) -> tuple[str, int, str | None] | None:
        """Where an image's staged data is (a staging store URL), its size, and its
        digests as the stage recorded them (JSON; None: none recorded)."""
        row = self.conn.execute(
            select(image_staged.c.location, image_staged.c.size, image_staged.c.digests).where(
                image_staged.c.image_id == image_id
            )
        ).first()
        return (row.location, row.size, row.digests) if row is not None else None

    def record_staged(
        self, image_id: str, location: str, size: int, digests: str | None = None
    ) -> None:
        self.conn.execute(delete(image_staged).where(image_staged.c.image_id == image_id))
        self.conn.execute(
            insert(image_staged).values(
                image_id=image_id,
                location=location,
                size=size,
                digests=digests,
                created_at=utcnow(),
            )
        )

    def forget_staged(self, image_id: str) -> str | None:
        """Forget the staged data; returns where it was (to remove it)."""
        found = self.staged(image_id)
        self.conn.execute(delete(image_staged).where(image_staged.c.image_id == image_id))
        return found[0] if found is not None else None
