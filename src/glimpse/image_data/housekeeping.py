"""Uploads in flight and what they leave behind: leases kept alive while an upload runs,
uploads whose node died returned to ``queued``, orphaned data removed.

Nothing stays ``saving`` forever: an upload renews its lease while it streams; a lease
that expires marks a dead upload, which any node's housekeeping finishes cleaning up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import timedelta
from functools import partial

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import ImageDeleted
from glimpse.image_data.repository import Lease, UploadRepository
from glimpse.images.removal import DataRemoval
from glimpse.images.status import Move

log = logging.getLogger(__name__)

# recorded on each lease: which node an upload runs on (for operators reading the table)
NODE = socket.gethostname()


class LeaseKeeper:
    """Holds an upload's lease while it runs: renews it, and notices when the upload is
    no longer wanted (its image deleted, or the upload given up for dead)."""

    def __init__(self, uploads: UnitsOfWork[UploadRepository], lease: Lease, seconds: float):
        self._uploads = uploads
        self._lease = lease
        self._seconds = seconds
        self._gone = False
        self._task: asyncio.Task[None] | None = None

    def take(self, repo: UploadRepository) -> None:
        """Record the lease, in the unit of work that moves the image to ``saving``."""
        repo.take_lease(self._lease, NODE, utcnow() + timedelta(seconds=self._seconds))

    def raise_if_gone(self) -> None:
        if self._gone:
            raise ImageDeleted(f"Image {self._lease.image_id} was deleted during the upload.")

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._seconds / 3)
            expires = utcnow() + timedelta(seconds=self._seconds)
            try:
                renew = partial(UploadRepository.renew_lease, lease=self._lease, expires_at=expires)
                held = await self._uploads.write(renew)
            except Exception:
                log.warning(
                    "could not renew the upload lease of %s", self._lease.image_id, exc_info=True
                )
                continue
            if not held:
                self._gone = True
                return

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.create_task(self._renew_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Housekeeping:
    """The periodic work every node does; safe on any number of nodes at once."""

    def __init__(self, db: Database, removal: DataRemoval) -> None:
        self.uploads = UnitsOfWork(db, UploadRepository)
        self.removal = removal

    async def run_once(self) -> None:
        await self.reap_expired_uploads()
        await self.removal.retry_orphans()

    async def reap_expired_uploads(self) -> int:
        """Return images whose upload died with its node to ``queued``; remove the
        partial data."""

        def claim(repo: UploadRepository) -> list[Lease]:
            expired = repo.claim_expired(utcnow())
            for lease in expired:
                # an upload (saving) or a stage (uploading) whose node died
                if not repo.images.move(lease.image_id, Move.ABANDON_UPLOAD, ABANDONED):
                    repo.images.move(lease.image_id, Move.ABANDON_STAGE, ABANDONED)
            return expired

        expired = await self.uploads.write(claim)
        for lease in expired:
            log.warning("upload of image %s expired; removing partial data", lease.image_id)
            await self.removal.remove(lease.partial)
        return len(expired)


# what an image given up on loses with its data
ABANDONED = {"size": None, "virtual_size": None}
