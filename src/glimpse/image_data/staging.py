"""``PUT /v2/images/{id}/stage`` (glance-direct): data into the staging store.

The same checks and the same ingest as an upload (counts, size cap, hashes), into the
staging store (``os_glance_staging_store``: shared, so that any node can run the import),
under an upload lease: ``queued → uploading`` while it streams and after; a failed stage
returns the image to ``queued``, a stage whose node died is reaped by housekeeping. The
hashes and the inspectors' findings are taken as the data streams in and kept with it
(staged data never changes): the import judges the findings against the image's formats
then (they need not be set yet) instead of reading the data again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, LimitExceeded, NotFound
from glimpse.image_data.housekeeping import ABANDONED, LeaseKeeper
from glimpse.image_data.ingest import Ingested, findings_only, ingest
from glimpse.image_data.inspection import Findings
from glimpse.image_data.repository import Lease, UploadRepository
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.images.status import Move
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.quotas.usage import IMAGE_COUNT_UPLOADING, IMAGE_STAGE_TOTAL, MIB, usage_of
from glimpse.stores.base import Store
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Staged:
    location: Location
    size: int
    # its hashes and format findings, taken as it was staged (None: staged without them)
    found: Ingested | None


def digests_json(found: Ingested) -> str:
    assert found.findings is not None, "staged data is always inspected"
    return json.dumps(
        {
            "checksum": found.checksum,
            "hash_algo": found.hash_algo,
            "hash_value": found.hash_value,
            "findings": found.findings.as_dict(),
        }
    )


def from_json(digests: str | None, size: int) -> Ingested | None:
    if digests is None:
        return None
    kept = json.loads(digests)
    return Ingested(
        size=size,
        checksum=kept["checksum"],
        hash_algo=kept["hash_algo"],
        hash_value=kept["hash_value"],
        virtual_size=None,  # judged against the image's disk_format by the import
        findings=Findings.from_dict(kept["findings"]),
    )


class ImageStaging:
    def __init__(
        self,
        *,
        images: ImageService,
        db: Database,
        stores: StoreRegistry,
        removal: DataRemoval,
        settings: Settings,
    ) -> None:
        self.images = images
        self.uploads = UnitsOfWork(db, UploadRepository)
        self.removal = removal
        self.settings = settings
        assert stores.staging is not None, "a staging store is always built"
        self.store: Store = stores.staging

    async def stage(
        self,
        context: RequestContext,
        image_id: str,
        body: AsyncIterator[bytes],
        declared_size: int | None,
        content_length: int | None,
    ) -> None:
        if "glance-direct" not in self.settings.enabled_import_methods:
            raise NotFound("The resource could not be found.")
        size_hint = declared_size if declared_size is not None else content_length
        limits = await self.images.quotas.limits(context.project_id)
        if limits is not None:
            delta = {IMAGE_STAGE_TOTAL: (size_hint or 0) // MIB}
            await self.images.db.read(lambda repo: limits.check(repo.conn, delta))
        cap = self.settings.image_size_cap
        if size_hint is not None and size_hint > cap:
            raise LimitExceeded(
                f"Image exceeds the storage quota: {size_hint} bytes is over the image size "
                f"cap of {cap} bytes."
            )

        def check(repo: ImageRepository) -> tuple[Image, int]:
            image = self.images.found_image(repo, context, image_id)
            self.images.authorize_change(context, "modify_image", image)
            Move.START_STAGE.check(image_id, image.status)
            if limits is None:
                return image, cap
            left = limits.bytes_left(usage_of(repo.conn, limits.project), IMAGE_STAGE_TOTAL)
            return image, cap if left is None else min(cap, left)

        image, limit = await self.images.db.read(check)
        writer = await self.store.writer(image_id, size_hint)
        lease = Lease(image_id, Location(url=writer.partial_location, store=self.store.name))
        keeper = LeaseKeeper(self.uploads, lease, self.settings.upload_lease_seconds)

        def start(repo: UploadRepository) -> None:
            if repo.staged(image_id) is not None:
                raise Conflict(f"Image {image_id} already has staged data")
            if not repo.images.move(image_id, Move.START_STAGE):
                raise Move.START_STAGE.refusal(image_id, repo.images.get_status(image_id))
            if limits is not None:  # this stage counts itself now; a refusal undoes the move
                limits.check(repo.conn, {IMAGE_COUNT_UPLOADING: 0}, lock=True)
            keeper.take(repo)

        try:
            await self.uploads.write(start)
        except BaseException:
            await writer.abort()
            raise
        # as Glance: an update when the image starts uploading, another with its size
        uploading = dataclasses.replace(image, status=Status.UPLOADING)
        self.images.notify("image.update", uploading)
        try:
            async with keeper:
                found = await ingest(
                    body,
                    writer,
                    limit=limit,
                    hash_algo=self.settings.hashing_algorithm,
                    # the formats need not be set yet: findings only, judged by the import
                    format_check=findings_only(),
                    block_size=self.settings.upload_buffer_size,
                    declared_size=declared_size,
                    still_wanted=keeper.raise_if_gone,
                )
            url = await writer.commit()
        except BaseException:
            await writer.abort()
            await self._abandon(lease)
            raise

        def finish(repo: UploadRepository) -> bool:
            if limits is not None:  # stages side by side cannot together pass the limit
                limits.check(repo.conn, {IMAGE_STAGE_TOTAL: found.size // MIB}, lock=True)
            if not repo.release_lease(lease):
                return False
            repo.record_staged(image_id, url, found.size, digests_json(found))
            repo.images.update_image(image_id, {"size": found.size})
            return True

        staged = Location(url=url, store=self.store.name)
        try:
            finished = await self.uploads.write(finish)
        except LimitExceeded:
            await self.removal.remove(staged)
            await self._abandon(lease)
            raise
        if not finished:
            await self.removal.remove(staged)
            raise Move.ABANDON_STAGE.refusal(image_id, None)
        self.images.notify("image.update", dataclasses.replace(uploading, size=found.size))

    async def _abandon(self, lease: Lease) -> None:
        def reset(repo: UploadRepository) -> None:
            if repo.release_lease(lease):
                repo.images.move(lease.image_id, Move.ABANDON_STAGE, ABANDONED)

        try:
            await asyncio.shield(self.uploads.write(reset))
        except Exception:
            log.exception("could not return image %s to queued", lease.image_id)

    # ------------------------------------------------------ for the import job

    async def staged(self, image_id: str) -> Staged | None:
        found = await self.uploads.read(lambda repo: repo.staged(image_id))
        if found is None:
            return None
        url, size, digests = found
        return Staged(Location(url=url, store=self.store.name), size, from_json(digests, size))

    async def record(self, image_id: str, url: str, found: Ingested) -> None:
        await self.uploads.write(
            lambda repo: repo.record_staged(image_id, url, found.size, digests_json(found))
        )

    async def discard(self, image_id: str) -> None:
        """Forget and remove an image's staged data (its import ended)."""
        url = await self.uploads.write(lambda repo: repo.forget_staged(image_id))
        if url is not None:
            await self.removal.remove(Location(url=url, store=self.store.name))
