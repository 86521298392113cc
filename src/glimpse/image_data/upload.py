"""``PUT /v2/images/{id}/file``: an upload, from the first checks to ``active``.

checks (visibility, policy, status, formats, size cap, quota) → a store writer →
``queued → saving`` with a lease, in one unit of work → :func:`ingest` → commit →
``saving → active`` with the hashes, size and location, in one unit of work.

Whatever goes wrong (bad length, client gone, store error, cap hit, image deleted), the
partial bytes are removed and the image goes back to ``queued``; a node that dies
mid-upload leaves a lease that expires, and housekeeping finishes the cleanup from any
node.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from glimpse.clock import utcnow
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import InvalidInput, LimitExceeded
from glimpse.image_data.housekeeping import ABANDONED, LeaseKeeper
from glimpse.image_data.ingest import Ingested, ingest
from glimpse.image_data.inspection import FormatCheck
from glimpse.image_data.repository import Lease, UploadRepository
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.images.status import Move
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.quotas.enforcer import Limits
from glimpse.quotas.usage import IMAGE_COUNT_UPLOADING, IMAGE_SIZE_TOTAL, MIB, usage_of
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UploadRequest:
    image_id: str
    body: AsyncIterator[bytes]
    declared_size: int | None  # x-openstack-image-size
    content_length: int | None
    store_name: str | None  # X-Image-Meta-Store


class ImageUpload:
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
        self.stores = stores
        self.removal = removal
        self.settings = settings

    async def upload(self, context: RequestContext, request: UploadRequest) -> None:
        image_id = request.image_id
        size_hint = (
            request.declared_size if request.declared_size is not None else request.content_length
        )
        # Glance's first check: the size announced must fit in image_size_total
        limits = await self.images.quotas.limits(context.project_id)
        if limits is not None:
            delta = {IMAGE_SIZE_TOTAL: (size_hint or 0) // MIB}
            await self.images.db.read(lambda repo: limits.check(repo.conn, delta))
        store = self.stores.for_writing(request.store_name)

        def check(repo: ImageRepository) -> tuple[Image, int | None]:
            image = self.images.found_image(repo, context, image_id)
            self.images.authorize_change(context, "upload_image", image)
            Move.START_UPLOAD.check(image_id, image.status)
            if not image.disk_format or not image.container_format:
                raise InvalidInput(
                    "Properties disk_format, container_format must be set prior to saving data."
                )
            if limits is not None:  # unified limits replace user_storage_quota (Glance)
                return image, limits.bytes_left(
                    usage_of(repo.conn, limits.project), IMAGE_SIZE_TOTAL
                )
            quota = self.settings.user_storage_quota
            return image, (quota - repo.storage_used(image.owner) if quota else None)

        image, quota_left = await self.images.db.read(check)
        limit = self._limit(size_hint, quota_left)

        writer = await store.writer(image_id, size_hint)
        lease = Lease(image_id, Location(url=writer.partial_location, store=store.name))
        keeper = LeaseKeeper(self.uploads, lease, self.settings.upload_lease_seconds)

        def start(repo: UploadRepository) -> None:
            if not repo.images.move(image_id, Move.START_UPLOAD):
                raise Move.START_UPLOAD.refusal(image_id, repo.images.get_status(image_id))
            if limits is not None:  # this upload counts itself now; a refusal undoes the move
                limits.check(repo.conn, {IMAGE_COUNT_UPLOADING: 0}, lock=True)
            keeper.take(repo)

        try:
            await self.uploads.write(start)
        except BaseException:
            await writer.abort()
            raise
        notify = self.images.notify
        saving = dataclasses.replace(image, status=Status.SAVING)
        notify("image.update", saving)
        notify("image.prepare", saving, upload=True)

        format_check = (
            FormatCheck(
                image.disk_format or "", require_match=self.settings.require_image_format_match
            )
            if image.container_format == "bare"
            else None
        )
        try:
            async with keeper:
                found = await ingest(
                    request.body,
                    writer,
                    limit=limit,
                    hash_algo=image.os_hash_algo or self.settings.hashing_algorithm,
                    format_check=format_check,
                    block_size=self.settings.upload_buffer_size,
                    declared_size=request.declared_size,
                    still_wanted=keeper.raise_if_gone,
                )
            url = await writer.commit()
        except BaseException:
            await writer.abort()
            # what the abort could not remove (its store out of reach) is retried from
            # the orphan queue once the lease is gone
            await self.removal.remove(lease.partial)
            await self._abandon(lease)
            raise
        values = await self._finish(lease, Location(url=url, store=store.name), found, limits)
        if self.images.notifier.enabled:
            active = dataclasses.replace(image, status=Status.ACTIVE, **values)
            notify("image.upload", active, upload=True)
            notify("image.activate", active)
            notify("image.update", active)

    def _limit(self, size_hint: int | None, quota_left: int | None) -> int:
        """The most bytes this upload may bring: the size cap, and what the owner's
        quota has left; 413 at once when the announced size is beyond either."""
        limit = self.settings.image_size_cap
        if size_hint is not None and size_hint > limit:
            raise LimitExceeded(
                f"Image exceeds the storage quota: {size_hint} bytes is over the image size "
                f"cap of {limit} bytes."
            )
        if quota_left is not None:
            if size_hint is not None and size_hint > quota_left:
                raise LimitExceeded(
                    f"Denying attempt to upload image because it exceeds the quota: "
                    f"{size_hint} bytes is over the {max(quota_left, 0)} bytes left."
                )
            limit = min(limit, max(quota_left, 0))
        return limit

    async def _finish(
        self, lease: Lease, location: Location, found: Ingested, limits: Limits | None
    ) -> dict[str, Any]:
        """Make the image active with what the upload found; those values. Under unified
        limits the size is checked again with the project locked: uploads that streamed
        side by side cannot together pass image_size_total."""
        image_id = lease.image_id
        values = {
            "size": found.size,
            # Glance records only a non-zero virtual size (an empty image shows null).
            "virtual_size": found.virtual_size or None,
            "checksum": found.checksum,
            "os_hash_algo": found.hash_algo,
            "os_hash_value": found.hash_value,
            "updated_at": utcnow(),
        }

        def activate(repo: UploadRepository) -> bool:
            if limits is not None:
                limits.check(repo.conn, {IMAGE_SIZE_TOTAL: found.size // MIB}, lock=True)
            # the lease must still be this upload's: not reaped, not another upload's
            if not repo.release_lease(lease):
                return False
            if not repo.images.move(image_id, Move.FINISH_UPLOAD, values):
                return False
            repo.images.add_location(image_id, location)
            return True

        try:
            activated = await self.uploads.write(activate)
        except LimitExceeded:
            await self.removal.remove(location)
            await self._abandon(lease)
            raise
        if not activated:
            # deleted (or given up for dead) while we were writing
            await self.removal.remove(location)
            raise Move.FINISH_UPLOAD.refusal(image_id, None)
        return values

    async def _abandon(self, lease: Lease) -> None:
        def reset(repo: UploadRepository) -> None:
            if repo.release_lease(lease):
                repo.images.move(lease.image_id, Move.ABANDON_UPLOAD, ABANDONED)

        try:
            await asyncio.shield(self.uploads.write(reset))
        except Exception:
            log.exception(
                "could not return image %s to queued; its lease will expire", lease.image_id
            )
