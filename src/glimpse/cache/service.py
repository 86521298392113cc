"""What the image cache does: serve a node's cached copies, fill the cache as images
are read from remote stores (or when an admin queues one), keep it under its size, and
Glance's cache API (list, queue, delete, clear, clean, prune, which nodes hold an image).

A copy is written under ``incomplete/`` while its bytes are hashed, and made a cached
image only if its size, md5 and multihash are the image's: every byte served from the
cache is one the image's hashes describe. Each node serves only its own directory; the
database records what each holds (any node can say where an image is cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from glimpse.cache.files import CacheFiles, CacheWrite
from glimpse.cache.repository import CacheEntry, CacheRepository
from glimpse.concurrency import run_blocking, run_blocking_through
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import GlimpseError, InvalidInput, NotFound
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

# statuses whose data a cache keeps (an admin still reads a deactivated image)
_KEPT = frozenset({Status.ACTIVE, Status.DEACTIVATED})
CLEAR_TARGETS = ("", "cache", "queue")
_READ_CHUNK = 1 << 20


class ImageCache:
    def __init__(
        self,
        *,
        directory: Path,
        db: Database,
        images: ImageService,
        stores: StoreRegistry,
        settings: Settings,
    ) -> None:
        self.files = CacheFiles(directory)
        self.node = settings.node_url
        self.max_size = settings.image_cache_max_size
        self.stall_time = settings.image_cache_stall_time
        self.interval = settings.image_cache_prefetcher_interval
        self.entries = UnitsOfWork(db, CacheRepository)
        self.records = UnitsOfWork(db, ImageRepository)
        self.images = images
        self.stores = stores
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ serving

    async def cached_path(self, image: Image) -> str | None:
        """The cached copy of ``image`` on this node (a read of it counted), or None."""
        found = await run_blocking(self.files.size, image.id)
        if found is None or found != image.size:
            return None
        now = time.time()
        if not await self.entries.write(lambda repo: repo.hit(self.node, image.id, now)):
            return None  # a file no record vouches for: not served (clean removes it)
        return str(self.files.path(image.id))

    async def read(
        self, image: Image, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes] | None:
        """``length`` bytes (all, if None) from ``offset`` of the cached copy, or None."""
        path = await self.cached_path(image)
        if path is None or image.size is None:
            return None
        return _file_chunks(path, offset, image.size - offset if length is None else length)

    async def filling(self, image: Image, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` passed on, and copied into the cache as they go (unless another
        copy of it is being written on this node); the copy is kept only if it is whole
        and its hashes are the image's."""
        write = self.files.writer(image.id, image.os_hash_algo)
        copying = kept = False
        try:
            copying = await self._copying(image, write, self.files.open, write)
            async for chunk in chunks:
                if copying and not kept:
                    copying = await self._copying(image, write, write.add, chunk)
                    if copying and image.size is not None and write.size >= image.size:
                        # kept before the last bytes go out: a client that hangs up as
                        # soon as it has them would otherwise stop the copy just short
                        kept = True
                        await self._keep(image, write)
                yield chunk
        except BaseException:
            write.abort()  # the reader stopped early, or the store failed: nothing kept
            raise
        if copying and not kept:
            await self._keep(image, write)

    @staticmethod
    async def _copying(
        image: Image, write: CacheWrite, call: Callable[..., object], *args: object
    ) -> bool:
        """``call`` on the copy; False, the copy dropped, when the cache's disk fails it
        (full, read-only, gone): the read goes on without it. The call runs to its end
        even when the reader hangs up meanwhile, so that an abort sees the file it made
        and never closes one in use."""
        try:
            return await run_blocking_through(call, *args) is not False
        except OSError as exc:
            write.abort()
            log.warning("image %s: not cached: %s", image.id, exc)
            return False

    async def _keep(self, image: Image, write: CacheWrite) -> None:
        mismatch = _mismatch(image, write)
        if mismatch is not None:
            write.abort()
            log.error("image %s: not cached, %s", image.id, mismatch)
            return
        if not await self._copying(image, write, write.commit):
            return
        now = time.time()
        await self.entries.write(lambda repo: repo.record(self.node, image.id, write.size, now))
        await self.prune()

    # ---------------------------------------------------------------- prefetch

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """This node's prefetcher: its queue, at once when woken (a PUT on this
        process) and every ``image_cache_prefetcher_interval`` (the node's other
        processes' PUTs), then a clean."""
        while True:
            try:
                while await self.prefetch_once():
                    pass
                await self.clean()
            except Exception:
                log.exception("image cache: prefetching failed; retrying later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def prefetch_once(self) -> bool:
        """Cache the oldest image queued on this node; False when none is queued."""
        image_id = await self.entries.write(lambda repo: repo.claim(self.node))
        if image_id is None:
            return False

        def load(repo: ImageRepository) -> tuple[Image | None, list[Location]]:
            return repo.get_image(image_id), repo.get_locations(image_id)

        image, locations = await self.records.read(load)
        if image is None or image.status != Status.ACTIVE or not locations:
            return True
        if await run_blocking(self.files.size, image.id) == image.size:
            return True
        for location in self.stores.reading_order(locations):
            try:
                chunks = await self.stores.for_location(location).read(location.url)
            except GlimpseError as exc:
                log.warning("image %s: prefetch from %s failed: %s", image_id, location.url, exc)
                continue
            async for _ in self.filling(image, chunks):
                pass
            break
        return True

    # --------------------------------------------------------------- the API

    # (the API asks each call's policy: the cache_* rules)

    async def state(self) -> tuple[list[CacheEntry], list[str]]:
        def work(repo: CacheRepository) -> tuple[list[CacheEntry], list[str]]:
            return repo.entries(self.node), repo.queued(self.node)

        return await self.entries.read(work)

    async def queue(self, context: RequestContext, image_id: str) -> None:
        image = await self._image(context, image_id)
        if image is None:
            raise NotFound(f"Image {image_id} not found.")
        if image.status != Status.ACTIVE:
            raise InvalidInput("Only images with status active can be targeted for queueing")
        await self.entries.write(lambda repo: repo.enqueue(self.node, image_id))
        self.wake()

    async def delete(self, context: RequestContext, image_id: str) -> None:
        image = await self._image(context, image_id)
        if image is None:
            state = await self.entries.read(
                lambda repo: (repo.entries(self.node), repo.queued(self.node))
            )
            if image_id not in {e.image_id for e in state[0]} | set(state[1]):
                raise NotFound(f"Image {image_id} not found.")

        def work(repo: CacheRepository) -> None:
            repo.forget(self.node, image_id)
            repo.unqueue(self.node, image_id)

        await self.entries.write(work)
        await run_blocking(self.files.remove, image_id)

    async def clear(self, target: str) -> None:
        if target not in CLEAR_TARGETS:
            raise InvalidInput(
                "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or empty string."
            )

        def work(repo: CacheRepository) -> list[str]:
            if target in ("", "queue"):
                repo.unqueue(self.node)
            return repo.forget(self.node) if target in ("", "cache") else []

        for image_id in await self.entries.write(work):
            await run_blocking(self.files.remove, image_id)

    async def nodes(self, context: RequestContext, image_id: str) -> list[str]:
        if await self._image(context, image_id) is None:
            raise NotFound(f"Image {image_id} not found.")
        return await self.entries.read(lambda repo: repo.nodes_with(image_id))

    async def _image(self, context: RequestContext, image_id: str) -> Image | None:
        def work(repo: ImageRepository) -> Image | None:
            try:
                return self.images.found_image(repo, context, image_id)
            except NotFound:
                return None

        return await self.records.read(work)

    # ------------------------------------------------------------ upkeep

    async def clean(self) -> None:
        """Remove what this node should not serve: unfinished writes older than
        ``image_cache_stall_time``, copies of images deleted (or gone back to queued)
        since, files no record vouches for, and records whose file is gone."""
        await run_blocking(self.files.remove_stalled, self.stall_time)
        entries = await self.entries.read(lambda repo: repo.entries(self.node))
        ids = [entry.image_id for entry in entries]
        statuses = await self.records.read(lambda repo: repo.statuses(ids))
        on_disk = set(await run_blocking(self.files.image_ids))  # (files: not incomplete/)
        stale = [i for i in ids if statuses.get(i) not in _KEPT or i not in on_disk]
        if stale:

            def forget(repo: CacheRepository) -> None:
                for image_id in stale:
                    repo.forget(self.node, image_id)

            await self.entries.write(forget)
        for image_id in set(stale) | (on_disk - set(ids)):
            await run_blocking(self.files.remove, image_id)

    async def _drop(self, image_id: str) -> None:
        await self.entries.write(lambda repo: repo.forget(self.node, image_id))
        await run_blocking(self.files.remove, image_id)

    async def prune(self) -> tuple[int, int]:
        """Remove the least recently read copies until the cache holds at most
        ``image_cache_max_size`` bytes; how many files and bytes went."""
        entries = await self.entries.read(lambda repo: repo.entries(self.node))
        total = sum(entry.size for entry in entries)
        files = pruned = 0
        for entry in entries:  # least recently accessed first
            if total <= self.max_size:
                break
            await self._drop(entry.image_id)
            total -= entry.size
            files += 1
            pruned += entry.size
        return files, pruned


async def _file_chunks(path: str, offset: int, length: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as handle:
        handle.seek(offset)
        while length > 0:
            chunk = await run_blocking(handle.read, min(length, _READ_CHUNK))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _mismatch(image: Image, write: CacheWrite) -> str | None:
    if image.size is not None and write.size != image.size:
        return f"read {write.size} bytes of {image.size}"
    if image.checksum and write.md5.hexdigest() != image.checksum:
        return "its md5 is not the image's checksum"
    if image.os_hash_value and (
        write.digest is None or write.digest.hexdigest() != image.os_hash_value
    ):
        return "its hash is not the image's os_hash_value"
    return None
