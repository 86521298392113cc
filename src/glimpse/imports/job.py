"""The import job a worker runs (task type ``api_image_import``).

source → (web-download, glance-download: fetched into staging first) → the import plugins, if
configured (``plugins.py``: decompression, conversion, metadata) → for each target store
the same ingest as an upload (md5 + multihash, size cap, format inspection and its
safety checks) → one unit of work that attaches the copies and makes the image
``active``. Any failure is recorded: the task fails with the reason, the image returns
to ``queued`` (as Glance) with the stores in ``os_glance_failed_import``; nothing that
failed inspection is ever attached. A job resumed after its worker died starts again
from its source (staged data stays until the import ends).

glance-download first reads the other region's image record (``imports/remote.py``) with
the caller's token, kept with the task; the data it stages must match that record's size
and hashes, its formats are the ones the plugins and the ingest's format check see, and
they and the properties it copies are set in the unit of work that makes the image
``active``: a failed import leaves the image as it was, ``queued``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import GlimpseError, LimitExceeded
from glimpse.image_data.housekeeping import ABANDONED
from glimpse.image_data.ingest import Ingested, findings_only, format_check_for, ingest, judged
from glimpse.image_data.staging import ImageStaging
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.imports.partials import Partials
from glimpse.imports.plugins import ImportPlugins, Prepared
from glimpse.imports.remote import RemoteImage, RemoteImages
from glimpse.imports.service import FAILED_IMPORT, IMPORTING_TO
from glimpse.imports.web import WebSource
from glimpse.imports.workspace import read_file
from glimpse.model.images import Image, Location, Status
from glimpse.notifications.notifier import Notifier
from glimpse.notifications.payloads import image_payload, upload_failure
from glimpse.quotas.enforcer import Quotas
from glimpse.quotas.usage import IMAGE_COUNT_UPLOADING, IMAGE_SIZE_TOTAL, IMAGE_STAGE_TOTAL, MIB
from glimpse.stores.base import StoreWriter
from glimpse.stores.registry import StoreRegistry
from glimpse.tasks.model import JobFailed, Task
from glimpse.tasks.repository import TaskRepository
from glimpse.tasks.worker import Progress

log = logging.getLogger(__name__)


async def _counted(
    chunks: AsyncIterator[bytes], progress: Progress, total: int | None
) -> AsyncIterator[bytes]:
    done = 0
    async for chunk in chunks:
        done += len(chunk)
        progress.report(done, total)
        yield chunk


@dataclass(frozen=True, slots=True)
class _Data:
    """What each target store receives: how to read it, its size and its formats."""

    open: Callable[[], Awaitable[AsyncIterator[bytes]]]
    size: int
    disk_format: str | None
    container_format: str | None
    # staged data, committed, and its digests taken as it was staged: a target store
    # may take it as it is, judged without reading it again
    kept: tuple[Location, Ingested] | None = None
    # copy-image: the store the active image's data is read from; what it reads must be
    # what the image's recorded digests describe, or the copy would spread a corruption
    copied_from: str | None = None


def _same_as_recorded(image: Image, found: Ingested, source: str) -> None:
    # an image from before multihash (or Glance's legacy records) has an md5 alone
    pairs = ((image.checksum, found.checksum), (image.os_hash_value, found.hash_value))
    if any(recorded is not None and recorded != read for recorded, read in pairs):
        raise JobFailed(
            f"The data of image {image.id} in store {source} does not match its recorded checksum"
        )


def _local_data(path: Path, image: Image, prepared: Prepared) -> _Data:
    """The plugins' output file, in the format they left it in."""

    async def read_local() -> AsyncIterator[bytes]:
        return read_file(path)

    return _Data(
        read_local,
        path.stat().st_size,
        prepared.values.get("disk_format", image.disk_format),
        prepared.values.get("container_format", image.container_format),
    )


class ImportJob:
    def __init__(
        self,
        *,
        db: Database,
        stores: StoreRegistry,
        staging: ImageStaging,
        removal: DataRemoval,
        settings: Settings,
        quotas: Quotas,
        notifier: Notifier | None = None,
    ) -> None:
        self.images = UnitsOfWork(db, ImageRepository)
        self.notifier = notifier
        self.tasks = UnitsOfWork(db, TaskRepository)
        self.quotas = quotas
        # tasks of this worker refused by a limit: as Glance, their stores leave
        # os_glance_importing_to_stores without joining os_glance_failed_import
        self._over_limit: set[str] = set()
        self.stores = stores
        self.staging = staging
        self.removal = removal
        self.settings = settings
        self.web = WebSource(settings)
        self.remote = RemoteImages(settings, self.web)
        self.plugins = ImportPlugins(settings)
        self.partials = Partials(db, removal)

    @staticmethod
    def _method(task: Task) -> str:
        name: str = task.input["import_req"]["method"]["name"]
        return name

    async def _image(self, image_id: str) -> Image:
        image = await self.images.read(lambda repo: repo.get_image(image_id))
        if image is None:
            raise JobFailed(f"Image {image_id} was deleted during the import")
        return image

    async def run(self, task: Task, progress: Progress) -> dict[str, Any]:
        image_id = task.image_id or ""
        method = self._method(task)
        image = await self._image(image_id)
        wanted = Status.ACTIVE if method == "copy-image" else Status.IMPORTING
        if image.status != wanted:
            raise JobFailed(f"Image {image_id} is {image.status}, no longer {wanted}")
        # as Glance: the image as its import starts (twice for a copy)
        for _ in range(2 if method == "copy-image" else 1):
            self._notify("image.update", image)
        staging_left = await self._check_quota(task, image, method)
        await self.partials.sweep(task.id)  # an earlier attempt's, if its worker died
        remote = None
        if method == "glance-download":
            remote, token = await self._remote(task)
            # the remote formats are the ones the data must match
            image = replace(
                image, disk_format=remote.disk_format, container_format=remote.container_format
            )
            location, size, kept = await self._download(
                task, image.id, remote, token, progress, staging_left
            )
        else:
            location, size, kept = await self._source(task, image, method, progress, staging_left)

        async def read_source() -> AsyncIterator[bytes]:
            return await self.stores.for_location(location).read(location.url)

        data = _Data(
            read_source,
            size,
            image.disk_format,
            image.container_format,
            (location, kept) if kept is not None else None,
            copied_from=(location.store or "default") if method == "copy-image" else None,
        )
        if method == "copy-image" or not self.plugins.names:
            return await self._store(task, image, method, data, Prepared(), progress, remote)

        async def counted_source() -> AsyncIterator[bytes]:
            return _counted(await read_source(), progress, size)

        async with self.plugins.prepare(task, image, counted_source) as prepared:
            if prepared.path is not None:
                data = _local_data(prepared.path, image, prepared)
            return await self._store(task, image, method, data, prepared, progress, remote)

    async def _store(
        self,
        task: Task,
        image: Image,
        method: str,
        data: _Data,
        prepared: Prepared,
        progress: Progress,
        remote: RemoteImage | None,
    ) -> dict[str, Any]:
        """Write ``data`` into each target store, then attach the copies."""
        image_id = image.id
        targets: list[str] = task.input["backend"]
        must_succeed: bool = task.input["all_stores_must_succeed"]
        written: list[Location] = []
        failed: list[str] = []
        found: Ingested | None = None
        for target in targets:
            if target in image.stores:
                continue  # a resumed copy-image that got this far
            backend = target if self.stores.multi else None
            self._notify("image.prepare", await self._image(image_id), upload=True, backend=backend)
            try:
                location, found = await self._write(task, image, data, target, progress)
            except (GlimpseError, JobFailed, OSError) as exc:
                log.warning("import of %s into %s failed: %s", image_id, target, exc)
                if self._wants("image.upload") and self.notifier is not None:
                    self.notifier.emit("image.upload", upload_failure(image_id, str(exc)), "error")
                if must_succeed or (method != "copy-image" and len(targets) == 1):
                    for done in written:
                        await self.removal.remove(done)
                    raise JobFailed(f"Import into store {target} failed: {exc}") from None
                failed.append(target)
                continue
            written.append(location)
            if self._wants("image.upload"):
                # as Glance: the image as the store holds it, already called active
                current = await self._image(image_id)
                uploaded = replace(
                    current, status=Status.ACTIVE, size=found.size, checksum=found.checksum
                )
                self._notify("image.upload", uploaded, upload=True)
            if method == "copy-image":
                await self._attach_copy(image_id, location, targets, written, failed)
        if not written or found is None:
            raise JobFailed("The import wrote the data into no store")
        if method != "copy-image":
            await self._activate(image_id, written, failed, found, prepared, remote)
            await self.staging.discard(image_id)
        if self._wants("image.update") or self._wants("image.activate"):
            finished = await self._image(image_id)
            if method != "copy-image":
                self._notify("image.activate", finished)
            self._notify("image.update", finished)
            self._notify("image.update", finished)
        return {"image_id": image_id}

    def _wants(self, event_type: str) -> bool:
        return self.notifier is not None and self.notifier.wants(event_type)

    def _notify(self, event_type: str, image: Image, **how: Any) -> None:
        if self.notifier is not None and self.notifier.wants(event_type):
            self.notifier.emit(event_type, image_payload(image, **how))

    async def _check_quota(self, task: Task, image: Image, method: str) -> int | None:
        """Glance's checks once an import runs: glance-direct's staged size against
        image_size_total; the other methods stage data, so image_stage_total and
        image_count_uploading. Over a limit, the import fails (the image back to queued).
        The bytes a fetch may still stage (None: no limit)."""
        limits = await self.quotas.limits(task.owner)
        if limits is None:
            return None
        size = (image.size or 0) // MIB
        deltas = (
            {IMAGE_SIZE_TOTAL: size}
            if method == "glance-direct"
            else {IMAGE_STAGE_TOTAL: size, IMAGE_COUNT_UPLOADING: 0}
        )
        try:
            usage = await self.images.read(lambda repo: limits.check(repo.conn, deltas))
        except LimitExceeded as exc:
            self._over_limit.add(task.id)
            raise JobFailed(exc.message) from None
        return limits.bytes_left(usage, IMAGE_STAGE_TOTAL)

    async def _source(
        self, task: Task, image: Image, method: str, progress: Progress, staging_left: int | None
    ) -> tuple[Location, int, Ingested | None]:
        """Where the data is, its size, and its digests if they were taken as it was
        staged."""
        if method == "copy-image":
            locations = await self.images.read(lambda repo: repo.get_locations(image.id))
            ordered = self.stores.reading_order(locations)
            if not ordered or image.size is None:
                raise JobFailed(f"Image {image.id} has no data to copy")
            return ordered[0], image.size, None
        staged = await self.staging.staged(image.id)
        if staged is not None:
            return staged.location, staged.size, staged.found
        if method != "web-download":
            raise JobFailed(f"Image {image.id} has no staged data")
        uri: str = task.input["import_req"]["method"]["uri"]
        cap = self._staging_cap(staging_left)
        chunks, announced = await self.web.open(uri, cap)
        return await self._stage(
            task, image.id, chunks, announced, cap, progress, f"web-download of {uri}"
        )

    def _staging_cap(self, staging_left: int | None) -> int:
        """What a fetch may stage: the size cap, and image_stage_total's room (enforced
        while the body streams in)."""
        cap = self.settings.image_size_cap
        return cap if staging_left is None else min(cap, staging_left)

    async def _remote(self, task: Task) -> tuple[RemoteImage, str]:
        """The remote image's checked record, and the caller's token to read it with."""
        # none kept (never expected): Keystone refuses the empty token, and says so
        token = await self.tasks.read(lambda repo: repo.auth_token(task.id)) or ""
        method = task.input["import_req"]["method"]
        remote = await self.remote.find(
            token,
            method["glance_region"],
            method.get("glance_service_interface") or "public",
            method["glance_image_id"],
        )
        return remote, token

    async def _download(
        self,
        task: Task,
        image_id: str,
        remote: RemoteImage,
        token: str,
        progress: Progress,
        staging_left: int | None,
    ) -> tuple[Location, int, Ingested | None]:
        """The remote data, staged (once: a resumed job finds it staged and checked)."""
        staged = await self.staging.staged(image_id)
        if staged is not None:
            return staged.location, staged.size, staged.found
        cap = self._staging_cap(staging_left)
        chunks, announced = await self.remote.open(remote, token, cap)
        what = f"glance-download of {remote.data_url}"
        return await self._stage(
            task, image_id, chunks, announced, cap, progress, what, remote.mismatch
        )

    async def _stage(
        self,
        task: Task,
        image_id: str,
        chunks: AsyncIterator[bytes],
        announced: int | None,
        cap: int,
        progress: Progress,
        what: str,
        check: Callable[[Ingested], str | None] = lambda _: None,
    ) -> tuple[Location, int, Ingested]:
        """Fetched bytes into the staging store (counted, capped, hashed, inspected); kept
        and recorded as staged only if ``check`` finds nothing wrong with them."""
        writer = await self.staging.store.writer(image_id, announced)
        async with self.partials.writing(task.id, self.staging.store.name, writer):
            url, fetched = await self._fetch(writer, chunks, announced, cap, progress, what, check)
        await self.staging.record(image_id, url, fetched)
        return Location(url=url, store=self.staging.store.name), fetched.size, fetched

    async def _fetch(
        self,
        writer: StoreWriter,
        chunks: AsyncIterator[bytes],
        announced: int | None,
        cap: int,
        progress: Progress,
        what: str,
        check: Callable[[Ingested], str | None],
    ) -> tuple[str, Ingested]:
        try:
            fetched = await ingest(
                _counted(chunks, progress, announced),
                writer,
                limit=cap,
                hash_algo=self.settings.hashing_algorithm,
                format_check=findings_only(),  # judged by _write
                block_size=self.settings.upload_buffer_size,
            )
            if problem := check(fetched):
                raise JobFailed(problem)
            url = await writer.commit()
        except GlimpseError as exc:
            await writer.abort()
            raise JobFailed(f"{what} failed: {exc}") from None
        except BaseException:
            await writer.abort()
            raise
        return url, fetched

    async def _write(
        self, task: Task, image: Image, data: _Data, target: str, progress: Progress
    ) -> tuple[Location, Ingested]:
        store = self.stores.get(target)
        if store is None:
            raise JobFailed(f"Store {target} is not configured")
        writer = await store.writer(image.id, data.size)
        async with self.partials.writing(task.id, target, writer):
            url, found = await self._copy(image, data, writer, progress)
        return Location(url=url, store=target), found

    async def _copy(
        self, image: Image, data: _Data, writer: StoreWriter, progress: Progress
    ) -> tuple[str, Ingested]:
        """The data into ``writer``, committed (aborted on any failure)."""
        try:
            found = await self._adopted(image, data, writer)
            if found is not None:
                progress.report(data.size, data.size)
            else:
                found = await ingest(
                    _counted(await data.open(), progress, data.size),
                    writer,
                    limit=self.settings.image_size_cap,
                    hash_algo=image.os_hash_algo or self.settings.hashing_algorithm,
                    format_check=format_check_for(
                        data.disk_format,
                        data.container_format,
                        require_match=self.settings.require_image_format_match,
                    ),
                    block_size=self.settings.upload_buffer_size,
                )
                if data.copied_from is not None:
                    _same_as_recorded(image, found, data.copied_from)
            url = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return url, found

    async def _adopted(self, image: Image, data: _Data, writer: StoreWriter) -> Ingested | None:
        """The staged data's digests, judged as the ingest would judge them (415 on what
        it would refuse), if ``writer`` took the staged object as it is; None when the
        data must be written (and read, hashed and inspected) after all."""
        if data.kept is None or data.kept[1].findings is None:
            return None
        location, kept = data.kept
        virtual_size = judged(
            data.kept[1].findings,
            data.disk_format,
            data.container_format,
            require_match=self.settings.require_image_format_match,
            size=kept.size,
        )
        if not await writer.adopt(location.url):
            return None
        return replace(kept, virtual_size=virtual_size)

    async def _attach_copy(
        self,
        image_id: str,
        location: Location,
        targets: list[str],
        written: list[Location],
        failed: list[str],
    ) -> None:
        done = {w.store for w in written} | set(failed)
        remaining = ",".join(t for t in targets if t not in done)

        def attach(repo: ImageRepository) -> bool:
            if repo.get_status(image_id) != Status.ACTIVE:
                return False
            repo.add_location(image_id, location)
            self._record(repo, image_id, remaining, failed)
            return True

        if not await self.images.write(attach):
            await self.removal.remove(location)
            raise JobFailed(f"Image {image_id} is no longer active")

    def _record(
        self, repo: ImageRepository, image_id: str, importing: str, failed: list[str]
    ) -> None:
        if not self.stores.multi:
            return
        current = repo.get_image(image_id)
        before = (current.properties.get(FAILED_IMPORT) or "") if current else ""
        failures = list(dict.fromkeys([s for s in before.split(",") if s] + failed))
        repo.save_extras(
            image_id, set_properties={IMPORTING_TO: importing, FAILED_IMPORT: ",".join(failures)}
        )

    async def _activate(
        self,
        image_id: str,
        written: list[Location],
        failed: list[str],
        found: Ingested,
        prepared: Prepared,
        remote: RemoteImage | None,
    ) -> None:
        # the remote formats, unless a plugin changed them (a conversion)
        formats = (
            {"disk_format": remote.disk_format, "container_format": remote.container_format}
            if remote is not None
            else {}
        )
        values = {
            **formats,
            **prepared.values,
            "size": found.size,
            "virtual_size": found.virtual_size or None,
            "checksum": found.checksum,
            "os_hash_algo": found.hash_algo,
            "os_hash_value": found.hash_value,
        }

        def activate(repo: ImageRepository) -> bool:
            if not repo.move(image_id, Move.FINISH_IMPORT, values):
                return False
            for location in written:
                repo.add_location(image_id, location)
            # injected properties win over copied ones
            copied = remote.properties if remote is not None else {}
            if copied or prepared.properties:
                repo.save_extras(image_id, set_properties={**copied, **prepared.properties})
            self._record(repo, image_id, "", failed)
            return True

        if not await self.images.write(activate):
            for location in written:
                await self.removal.remove(location)
            raise JobFailed(f"Image {image_id} was deleted during the import")

    async def fail(self, task: Task, message: str) -> None:
        image_id = task.image_id or ""
        method = self._method(task)
        targets: list[str] = task.input["backend"]
        over_limit = task.id in self._over_limit
        self._over_limit.discard(task.id)

        def record(repo: ImageRepository) -> Image | None:
            if method != "copy-image":
                repo.move(image_id, Move.FAIL_IMPORT, {**ABANDONED})
            image = repo.get_image(image_id)
            if image is None:
                return None
            failed = [] if over_limit else [t for t in targets if t not in image.stores]
            self._record(repo, image_id, "", failed)
            return repo.get_image(image_id)

        try:
            image = await self.images.write(record)
            if image is not None:
                self._notify("image.update", image)  # as Glance: the image as the import left it
            await self.partials.sweep(task.id)  # a dead attempt's (this one's are gone)
            if method != "copy-image":
                await self.staging.discard(image_id)
        except Exception:
            log.exception("could not record the failed import of %s", image_id)
