"""Removing stored image data: now if the store lets us, later if it does not.

Data whose removal fails (a store down, a permission error) is recorded as orphaned and
retried by every node's housekeeping until it is gone, so a failure never leaves bytes
behind for good and never fails the request that let go of them.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, GlimpseError
from glimpse.images.orphans import OrphanRepository
from glimpse.model.images import Location
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


class DataRemoval:
    def __init__(self, db: Database, stores: StoreRegistry) -> None:
        self.stores = stores
        self.orphans = UnitsOfWork(db, OrphanRepository)

    async def check_removable(self, image_id: str, location: Location) -> None:
        """Conflict if the store says others depend on the data at ``location``; a store
        that cannot say now does not hold the deletion up."""
        try:
            await self.stores.for_location(location).check_removable(location.url)
        except Conflict as exc:
            raise Conflict(
                f"Image {image_id} could not be deleted because it is in use: {exc.message}"
            ) from exc
        except GlimpseError:
            return

    async def remove(self, location: Location) -> None:
        """Delete stored bytes; if the store refuses now, remember them for later."""
        try:
            store = self.stores.for_location(location)
        except GlimpseError:
            log.error("no configured store holds %s; left where it is", location.url)
            return
        try:
            await store.delete(location.url)
        except Exception:
            log.warning("could not delete %s now; queued for retry", location.url, exc_info=True)
            recorded = Location(url=location.url, store=store.name)
            await self.orphans.write(lambda repo: repo.add(recorded))

    async def remove_recorded(self, recorded: list[tuple[int, Location]], concurrency: int) -> None:
        """Delete data already recorded as orphans (so that a node dying midway leaves
        it to housekeeping), ``concurrency`` deletions at a time."""
        gate = asyncio.Semaphore(max(concurrency, 1))

        async def one(orphan_id: int, location: Location) -> None:
            async with gate:
                try:
                    await self.stores.for_location(location).delete(location.url)
                except Exception:
                    log.warning("could not delete %s now; housekeeping retries", location.url)
                    return
                await self.orphans.write(partial(OrphanRepository.forget, orphan_id=orphan_id))

        await asyncio.gather(*(one(orphan_id, location) for orphan_id, location in recorded))

    async def retry_orphans(self) -> None:
        for orphan_id, location in await self.orphans.write(lambda repo: repo.claim()):
            try:
                await self.stores.for_location(location).delete(location.url)
            except Exception:
                log.warning("orphaned data %s still cannot be deleted", location.url)
                continue
            await self.orphans.write(partial(OrphanRepository.forget, orphan_id=orphan_id))
