"""The one data pipeline: image bytes in (``PUT …/file``) and out (``GET …/file``).

Upload: request body → gather into blocks → count, enforce size cap and quota → md5,
the multihash and format inspection, each on its own thread, overlapped with the store
write of the same block and the network read of the next → one compare-and-set that
makes the image ``active``. Memory holds at most two blocks per upload.

Whatever goes wrong (bad length, client gone, store error, cap hit, image deleted), the
partial bytes are removed and the image goes back to ``queued``; a node that dies
mid-upload leaves a lease that expires, and :meth:`ImageData.reap_expired_uploads`
finishes the cleanup from any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from glimpse.auth.context import RequestContext
from glimpse.concurrency import run_blocking
from glimpse.db.repository import Repository
from glimpse.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    RangeNotSatisfiable,
    RequestEntityTooLarge,
)
from glimpse.images.blocks import BlockPair
from glimpse.images.inspection import FormatCheck
from glimpse.images.model import Image, Location, utcnow
from glimpse.images.service import ImageService
from glimpse.images.status import Status
from glimpse.store.base import DataMissing, Store, StoreWriter

log = logging.getLogger(__name__)

NODE = socket.gethostname()


@dataclass(frozen=True, slots=True)
class UploadRequest:
    image_id: str
    body: AsyncIterator[bytes]
    declared_size: int | None  # x-openstack-image-size
    content_length: int | None
    store_name: str | None  # X-Image-Meta-Store


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive


@dataclass(slots=True)
class Download:
    image: Image
    size: int
    chunks: AsyncIterator[bytes] | None  # None: the image has no data (204)
    byte_range: ByteRange | None = None


class _Digests:
    """md5 and the multihash, each updated on its own thread; hashlib releases the GIL
    on large buffers, so both run at once on two cores."""

    def __init__(self, algorithm: str, format_check: FormatCheck | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.multihash = hashlib.new(algorithm)
        self.format_check = format_check

    def _md5_and_inspect(self, block: memoryview) -> None:
        self.md5.update(block)
        if self.format_check is not None:
            self.format_check.eat(block)

    def feed(self, block: memoryview) -> list[Awaitable[None]]:
        return [
            run_blocking(self._md5_and_inspect, block),
            run_blocking(self.multihash.update, block),
        ]


class ImageData:
    def __init__(self, images: ImageService) -> None:
        self.images = images
        self.db = images.db
        self.settings = images.settings

    # ------------------------------------------------------------------ upload

    async def upload(self, context: RequestContext, request: UploadRequest) -> None:
        store = self.images.stores.get(request.store_name)
        image_id = request.image_id
        size_hint = (
            request.declared_size if request.declared_size is not None else (request.content_length)
        )

        def check(repo: Repository) -> tuple[Image, int | None]:
            image = self.images.found_image(repo, context, image_id)
            self.images.authorize_change(context, "upload_image", image)
            if image.status != Status.QUEUED:
                raise Conflict(
                    f"Image status transition from {image.status} to saving is not allowed"
                )
            if not image.disk_format or not image.container_format:
                raise BadRequest(
                    "Properties disk_format, container_format must be set prior to saving data."
                )
            quota = self.settings.user_storage_quota
            return image, (quota - repo.storage_used(image.owner) if quota else None)

        image, quota_left = await self.db.read(check)
        limit = self.settings.image_size_cap
        if size_hint is not None and size_hint > limit:
            raise RequestEntityTooLarge(
                f"Image exceeds the storage quota: {size_hint} bytes is over the image size "
                f"cap of {limit} bytes."
            )
        if quota_left is not None:
            if size_hint is not None and size_hint > quota_left:
                raise RequestEntityTooLarge(
                    f"Denying attempt to upload image because it exceeds the quota: "
                    f"{size_hint} bytes is over the {max(quota_left, 0)} bytes left."
                )
            limit = min(limit, max(quota_left, 0))

        writer = await store.writer(image_id, size_hint)
        try:
            await self.db.write(lambda repo: self._start_saving(repo, image_id, store, writer))
        except BaseException:
            await writer.abort()
            raise

        format_check = (
            FormatCheck(
                image.disk_format or "", require_match=self.settings.require_image_format_match
            )
            if image.container_format == "bare"
            else None
        )
        digests = _Digests(image.os_hash_algo or self.settings.hashing_algorithm, format_check)
        try:
            size = await self._stream(request, writer, digests, limit, image_id)
            if request.declared_size is not None and size != request.declared_size:
                raise BadRequest(
                    f"Size of uploaded data ({size}) does not match x-openstack-image-size "
                    f"({request.declared_size})."
                )
            virtual_size = await run_blocking(format_check.verdict, size) if format_check else None
            url = await writer.commit()
        except BaseException:
            await writer.abort()
            await self._back_to_queued(image_id)
            raise

        values = {
            "status": Status.ACTIVE,
            "size": size,
            # Glance records only a non-zero virtual size (an empty image shows null).
            "virtual_size": virtual_size or None,
            "checksum": digests.md5.hexdigest(),
            "os_hash_algo": digests.multihash.name,
            "os_hash_value": digests.multihash.hexdigest(),
            "updated_at": utcnow(),
        }
        location = Location(url=url, store=store.name)

        def activate(repo: Repository) -> bool:
            repo.drop_upload_lease(image_id)
            if not repo.update_image(image_id, values, from_statuses=[Status.SAVING]):
                return False
            repo.add_location(image_id, location)
            return True

        if not await self.db.write(activate):
            # deleted (or reset by the reaper) while we were writing
            await self.images.remove_data(location)
            raise Gone(
                f"Image {image_id} could not be found after upload. "
                "It may have been deleted during the upload."
            )

    def _start_saving(
        self, repo: Repository, image_id: str, store: Store, writer: StoreWriter
    ) -> None:
        if not repo.update_image(
            image_id,
            {"status": Status.SAVING, "updated_at": utcnow()},
            from_statuses=[Status.QUEUED],
        ):
            status = repo.get_status(image_id)
            if status in (None, Status.DELETED, Status.PENDING_DELETE):
                raise Gone(f"Image {image_id} was deleted.")
            raise Conflict(f"Image status transition from {status} to saving is not allowed")
        lease = timedelta(seconds=self.settings.upload_lease_seconds)
        repo.take_upload_lease(
            image_id, store.name, writer.partial_location, NODE, utcnow() + lease
        )

    async def _stream(
        self,
        request: UploadRequest,
        writer: StoreWriter,
        digests: _Digests,
        limit: int,
        image_id: str,
    ) -> int:
        blocks = BlockPair(self.settings.upload_buffer_size)
        total = 0
        in_flight: asyncio.Future[Any] | None = None
        handed: memoryview | None = None
        keeper = _LeaseKeeper(self, image_id)

        async def settle() -> None:
            """Wait until the block handed over last is hashed and written."""
            nonlocal in_flight, handed
            if in_flight is not None:
                try:
                    await in_flight
                finally:
                    in_flight = None
                    if handed is not None:
                        handed.release()
                        handed = None

        async def hand_over() -> None:
            nonlocal in_flight, handed
            await settle()  # its block is the one that fills next
            keeper.raise_if_gone()
            handed = blocks.hand_over()
            in_flight = asyncio.gather(*digests.feed(handed), writer.write(handed))

        try:
            async with keeper:
                async for chunk in request.body:
                    total += len(chunk)
                    if total > limit:
                        raise RequestEntityTooLarge(
                            f"Image exceeds the storage quota or size cap of {limit} bytes."
                        )
                    while chunk:
                        chunk = blocks.take(chunk)
                        if blocks.full:
                            await hand_over()
                if blocks.filled:
                    await hand_over()
                await settle()
                keeper.raise_if_gone()
        finally:
            # the threads must be done with a block before it is unmapped
            with contextlib.suppress(BaseException):
                await settle()
            blocks.close()
        return total

    async def _back_to_queued(self, image_id: str) -> None:
        def reset(repo: Repository) -> None:
            repo.drop_upload_lease(image_id)
            repo.update_image(
                image_id,
                {
                    "status": Status.QUEUED,
                    "size": None,
                    "virtual_size": None,
                    "updated_at": utcnow(),
                },
                from_statuses=[Status.SAVING],
            )

        try:
            await asyncio.shield(self.db.write(reset))
        except Exception:
            log.exception("could not return image %s to queued; its lease will expire", image_id)

    async def reap_expired_uploads(self) -> int:
        """Return images whose upload died with its node to ``queued``; remove the partial
        data. Safe on any number of nodes at once."""

        def claim(repo: Repository) -> list[tuple[str, str, str]]:
            expired = repo.expired_upload_leases(utcnow())
            for image_id, _store, _location in expired:
                repo.drop_upload_lease(image_id)
                repo.update_image(
                    image_id,
                    {"status": Status.QUEUED, "size": None, "virtual_size": None,
                     "updated_at": utcnow()},
                    from_statuses=[Status.SAVING],
                )  # fmt: skip
            return expired

        expired = await self.db.write(claim)
        for image_id, store_name, location in expired:
            log.warning("upload of image %s expired; removing partial data", image_id)
            await self.images.remove_data(Location(url=location, store=store_name))
        return len(expired)

    async def delete_orphans(self) -> None:
        for orphan_id, store_name, location in await self.db.write(lambda r: r.take_orphans()):
            try:
                await self.images.stores.for_location(store_name).delete(location)
            except Exception:
                log.warning("orphaned data %s still cannot be deleted", location)
                continue
            await self.db.write(partial(Repository.forget_orphan, orphan_id=orphan_id))

    # ---------------------------------------------------------------- download

    async def download(
        self, context: RequestContext, image_id: str, range_header: str | None
    ) -> Download:
        def check(repo: Repository) -> tuple[Image, list[Location]]:
            image = self.images.found_image(repo, context, image_id)
            # Glance refuses deactivated data before it asks any rule
            if image.status == Status.DEACTIVATED and not context.is_admin:
                raise Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                )
            self.images.enforce(context, "download_image", image)
            return image, repo.get_locations(image_id)

        image, locations = await self.db.read(check)
        if not locations or image.size is None:
            return Download(image=image, size=0, chunks=None)
        size = image.size
        byte_range = parse_range(range_header, size) if range_header is not None else None
        location = locations[0]
        store = self.images.stores.for_location(location.store)
        try:
            if byte_range is None:
                chunks = await store.read(location.url)
            else:
                length = byte_range.end - byte_range.start + 1
                chunks = await store.read(location.url, byte_range.start, length)
        except DataMissing:
            # as Glance: when the store has nothing, there is nothing to send
            log.error(
                "image %s is %s but its data is missing at %s", image_id, image.status, location.url
            )
            return Download(image=image, size=0, chunks=None)
        return Download(image=image, size=size, chunks=chunks, byte_range=byte_range)


def parse_range(header: str, size: int) -> ByteRange:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``; one range only (several → 400);
    anything unparsable or starting past the end → 416."""
    unit, _, spec = header.strip().partition("=")
    if "," in spec:
        raise BadRequest("Multiple ranges are not supported.")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip().lower() != "bytes" or not dash:
            raise ValueError
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise ValueError
            start, end = max(size - suffix, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
            if end < start:
                raise ValueError
            end = min(end, size - 1)
    except ValueError:
        raise RangeNotSatisfiable(f"Invalid range {header!r}") from None
    if start >= size or start < 0:
        raise RangeNotSatisfiable(f"Range {header!r} is beyond the image size {size}")
    return ByteRange(start, end)


class _LeaseKeeper:
    """Renews an upload's lease while it runs and notices when its image is deleted."""

    def __init__(self, data: ImageData, image_id: str) -> None:
        self._data = data
        self._image_id = image_id
        self._gone = False
        self._task: asyncio.Task[None] | None = None

    def raise_if_gone(self) -> None:
        if self._gone:
            raise Gone(f"Image {self._image_id} was deleted during the upload.")

    async def _renew_forever(self, renew: Callable[[], Awaitable[bool]], every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                if not await renew():
                    self._gone = True
                    return
            except Exception:
                log.warning("could not renew the upload lease of %s", self._image_id, exc_info=True)

    async def __aenter__(self) -> _LeaseKeeper:
        seconds = self._data.settings.upload_lease_seconds

        async def renew() -> bool:
            expires = utcnow() + timedelta(seconds=seconds)
            return await self._data.db.write(
                lambda repo: repo.renew_upload_lease(self._image_id, expires)
            )

        self._task = asyncio.create_task(self._renew_forever(renew, seconds / 3))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
