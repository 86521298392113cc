"""``GET /v2/images/{id}/file``: which bytes a caller may read, and from where.

The HTTP layer resolves a ``Range`` against :attr:`Download.size` and then opens the
bytes it wants; a store that has lost them yields nothing (Glance then sends 204).
With several copies (multi-store) they are tried best first: the stores a caller
prefers (``?prefer=``), then by store weight; the first that answers wins.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from glimpse.cache.service import ImageCache
from glimpse.errors import DataMissing, InvalidInput, NotPermitted, StoreUnavailable
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.notifications.notifier import Notifier
from glimpse.notifications.payloads import send_payload
from glimpse.stores.base import LocalFiles
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Download:
    image: Image
    size: int | None  # None: the image has no data
    locations: list[Location]  # best first
    stores: StoreRegistry
    context: RequestContext
    notifier: Notifier
    cache: ImageCache | None = None

    async def open(self, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes] | None:
        """``length`` bytes (all, if None) from ``offset``: from this node's cache, else
        from the first copy that answers (a whole image from a remote store fills the
        cache as it goes); None if every store lost them (503 if one could not be
        reached)."""
        if self.cache is not None and self.size is not None:
            cached = await self.cache.read(self.image, offset, length)
            if cached is not None:
                return cached if not self.notifier.wants("image.send") else self._counted(cached)
        unavailable: StoreUnavailable | None = None
        for location in self.locations:
            try:
                store = self.stores.for_location(location)
                chunks = await store.read(location.url, offset, length)
            except DataMissing:
                log.error(
                    "image %s is %s but its data is missing at %s",
                    self.image.id,
                    self.image.status,
                    location.url,
                )
                continue
            except StoreUnavailable as exc:
                log.warning("image %s: %s; trying another copy", self.image.id, exc)
                unavailable = exc
                continue
            whole = offset == 0 and length is None
            if self.cache is not None and whole and not isinstance(store, LocalFiles):
                chunks = self.cache.filling(self.image, chunks)
            if not self.notifier.wants("image.send"):
                return chunks
            return self._counted(chunks)
        if unavailable is not None:
            raise unavailable
        return None

    async def local_file(self) -> str | None:
        """The path of the whole image's data when its best copy is a local file of the
        right size that can be sent as it is (nothing counts the bytes as they go out);
        None otherwise (then :meth:`open`)."""
        if not self.locations or self.notifier.wants("image.send"):
            return None
        if self.cache is not None:
            cached = await self.cache.cached_path(self.image)
            if cached is not None:
                return cached
        location = self.locations[0]
        try:
            store = self.stores.for_location(location)
        except StoreUnavailable:
            return None
        if not isinstance(store, LocalFiles):
            return None
        found = await store.local_file(location.url)
        if found is None or found[1] != self.size:
            return None
        return found[0]

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks, then ``image.send`` with the bytes that went out (as Glance: an
        ``error`` notification when the transfer stopped early)."""
        sent = 0
        complete = False
        try:
            async for chunk in chunks:
                yield chunk
                sent += len(chunk)
            complete = True
        finally:
            payload = send_payload(self.image, self.context, sent)
            self.notifier.emit("image.send", payload, "info" if complete else "error")


class ImageDownload:
    def __init__(
        self, *, images: ImageService, stores: StoreRegistry, cache: ImageCache | None = None
    ) -> None:
        self.images = images
        self.stores = stores
        self.cache = cache

    async def download(
        self, context: RequestContext, image_id: str, prefer: Sequence[str] = ()
    ) -> Download:
        if prefer:
            if not self.stores.multi:
                raise InvalidInput("The prefer parameter needs multiple stores to be enabled.")
            unknown = [name for name in prefer if self.stores.get(name) is None]
            if unknown:
                raise InvalidInput(f"Unknown store(s) in prefer: {', '.join(unknown)}")

        def check(repo: ImageRepository) -> tuple[Image, list[Location]]:
            image = self.images.found_image(repo, context, image_id)
            # Glance refuses deactivated data before it asks any rule
            if image.status == Status.DEACTIVATED and not context.is_admin:
                raise NotPermitted(
                    "The requested image has been deactivated. Image data download is forbidden."
                )
            self.images.enforce(context, "download_image", image)
            return image, repo.get_locations(image_id)

        image, locations = await self.images.db.read(check)
        if not locations or image.size is None:
            return Download(image, None, [], self.stores, context, self.images.notifier)
        ordered = self.stores.reading_order(locations, prefer)
        return Download(
            image, image.size, ordered, self.stores, context, self.images.notifier, self.cache
        )
