"""Delayed delete's scrubber: removes the data of ``pending_delete`` images once they
have waited ``scrub_time`` seconds.

Every node runs it; each image is claimed by one compare-and-set (``pending_delete →
deleted``), so it is scrubbed once however many nodes look. The claim records the
image's data as orphaned in the same transaction: a node that dies before the data is
gone leaves it to any node's housekeeping, never behind for good.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from glimpse.clock import utcnow
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import NotFound
from glimpse.images.orphans import OrphanRepository
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.model.images import Location

log = logging.getLogger(__name__)

BATCH = 100


class Scrubber:
    def __init__(self, db: Database, removal: DataRemoval, settings: Settings) -> None:
        self.db = UnitsOfWork(db, ImageRepository)
        self.removal = removal
        self.settings = settings

    async def run_once(self) -> list[str]:
        """Scrub every image that is due; the ids this node scrubbed."""
        scrubbed: list[str] = []
        while True:
            due = utcnow() - timedelta(seconds=self.settings.scrub_time)
            found = await self.db.read(partial(_due, before=due))
            if not found:
                return scrubbed
            for image_id in found:
                recorded = await self.db.write(partial(_claim, image_id=image_id))
                if recorded is None:
                    continue  # another node (or a restore) came first
                await self.removal.remove_recorded(recorded, self.settings.scrub_pool_size)
                log.info("scrubbed image %s", image_id)
                scrubbed.append(image_id)
            if len(found) < BATCH:
                return scrubbed

    async def restore(self, image_id: str) -> None:
        """``pending_delete`` → ``active``, as ``glance-scrubber --restore`` does."""

        def work(repo: ImageRepository) -> None:
            if not repo.restore(image_id):
                status = repo.get_status(image_id)
                if status is None:
                    raise NotFound(f"No image found with ID {image_id}")
                raise Move.RESTORE.refusal(image_id, status)

        await self.db.write(work)


def _due(repo: ImageRepository, before: datetime) -> list[str]:
    return repo.due_for_scrub(before, BATCH)


def _claim(repo: ImageRepository, image_id: str) -> list[tuple[int, Location]] | None:
    locations = repo.scrub(image_id)
    if locations is None:
        return None
    orphans = OrphanRepository(repo.conn)
    return [(orphans.add(location), location) for location in locations]
