"""``POST /v2/images/{id}/locations`` (2.17): a service (Nova, Cinder) tells glimpse
where a queued image's data already is; Glance's ``location_import`` task.

The request is checked in Glance's order and answered 202 at once; a worker then
attaches the location (its size read from the store), and, with ``do_secure_hash``,
reads the data for its md5 and multihash: with ``validation_data`` before the image
turns active (``importing``; a hash that differs sends it back to ``queued``), without
it after. Callers without the service role may only name HTTP(S) URLs, read through
the http store and the import filters.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from sqlalchemy import Connection

from glimpse.concurrency import run_blocking
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, GlimpseError, InvalidInput, NotPermitted
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.images.status import Move
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.notifications.payloads import task_payload
from glimpse.stores.base import Store
from glimpse.stores.registry import StoreRegistry
from glimpse.stores.web_guard import UrlRefused, WebGuard
from glimpse.tasks.model import JobFailed, Task
from glimpse.tasks.repository import TaskRepository
from glimpse.tasks.worker import Progress

log = logging.getLogger(__name__)

LOCATION_TASK = "location_import"
HASH_ALGORITHMS = ("sha1", "sha256", "sha512", "md5")
# Glance's schema of the request body
_BODY = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "validation_data": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "os_hash_algo": {"type": "string", "maxLength": 64, "enum": list(HASH_ALGORITHMS)},
                "os_hash_value": {"type": "string", "maxLength": 128},
            },
            "dependentRequired": {
                "os_hash_value": ["os_hash_algo"],
                "os_hash_algo": ["os_hash_value"],
            },
        },
    },
    "required": ["url"],
}
_VALIDATOR = jsonschema.Draft202012Validator(_BODY)
# how often (bytes read) a hashing job asks whether its image is still there
_RECHECK = 256 << 20


class _Lock:
    """The image's lock and its task, in one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.images = ImageRepository(conn)
        self.tasks = TaskRepository(conn)


class LocationImports:
    def __init__(
        self,
        *,
        db: Database,
        images: ImageService,
        stores: StoreRegistry,
        settings: Settings,
        wake: Any,
    ) -> None:
        self.images = images
        self.stores = stores
        self.settings = settings
        self.guard = WebGuard(settings)
        self.work = UnitsOfWork(db, _Lock)
        self.wake = wake

    async def add(self, context: RequestContext, image_id: str, body: object) -> Task:
        error = next(iter(_VALIDATOR.iter_errors(body)), None)
        if error is not None:
            raise InvalidInput(f"Provided object does not match schema 'location': {error.message}")
        assert isinstance(body, dict)
        url: str = body["url"]
        validation: dict[str, str] = body.get("validation_data") or {}

        def check(repo: ImageRepository) -> Image:
            image = self.images.found_image(repo, context, image_id)
            if image.status != Status.QUEUED:
                raise Conflict(
                    f"It's not allowed to add locations if image status is {image.status}."
                )
            self.images.enforce(context, "add_image_location", image)
            return image

        await self.images.db.read(check)
        http = urlsplit(url).scheme.lower() in ("http", "https")
        if "service" not in context.roles and not (
            http and any(not store.writable and store.handles(url) for store in self.stores)
        ):
            raise NotPermitted("http store must be enabled to use location API by normal user.")
        _check_hash(validation, self.settings.hashing_algorithm)
        if http:
            try:
                await self.guard.check_request(url)
            except UrlRefused:
                raise InvalidInput(f"URI for add location does not pass filtering: {url}") from None
        task = Task(
            id=str(uuid.uuid4()),
            type=LOCATION_TASK,
            owner=context.project_id,
            image_id=image_id,
            request_id=context.request_id,
            user_id=context.user_id,
            input={"image_id": image_id, "loc_url": url, "validation_data": validation},
        )

        def queue(repo: _Lock) -> None:
            if not repo.tasks.lock_image(image_id, task.id):
                raise Conflict(
                    f"New operation on image '{image_id}' is not permitted as prior "
                    "operation is still in progress"
                )
            repo.tasks.add(task)

        await self.work.write(queue)
        self.images.notifier.send("task.create", lambda: task_payload(task))
        self.wake()
        return task


def _check_hash(validation: dict[str, str], default_algo: str) -> None:
    value = validation.get("os_hash_value")
    if value is None:
        return
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        raise InvalidInput(f"os_hash_value ({value}) is not a valid hexadecimal value") from None
    algo = validation.get("os_hash_algo", default_algo)
    want = hashlib.new(algo).digest_size
    if len(digest) != want:
        raise InvalidInput(
            f"os_hash_value: ({value}) is not the correct size for ({algo}) "
            f"(should be ({want}) bytes)"
        )


class LocationImportJob:
    """The worker's side: attach, hash, activate (or give the image back)."""

    def __init__(self, *, db: Database, stores: StoreRegistry, settings: Settings) -> None:
        self.images = UnitsOfWork(db, ImageRepository)
        self.stores = stores
        self.settings = settings

    async def run(self, task: Task, progress: Progress) -> dict[str, Any]:
        image_id = task.image_id or ""
        url: str = task.input["loc_url"]
        validation: dict[str, str] = task.input.get("validation_data") or {}
        store = self._store(url)
        try:
            size = await store.size(url)
        except GlimpseError as exc:
            raise JobFailed(f"Invalid location: {exc.message}") from None
        if size <= 0:
            raise JobFailed("Invalid location")
        algo = validation.get("os_hash_algo", self.settings.hashing_algorithm)
        location = Location(url, {}, store.name)
        secure = self.settings.do_secure_hash
        if secure and validation:
            # the data is read before the image turns active
            await self._move(image_id, Move.START_IMPORT, location, size, os_hash_algo=algo)
            checksum, value = await self._hashes(image_id, store, url, algo, size, progress)
            if value != validation["os_hash_value"]:
                raise JobFailed(
                    f"os_hash_value: ({validation['os_hash_value']}) not matched with actual "
                    f"os_hash_value: ({value})"
                )
            await self._set(image_id, Move.FINISH_IMPORT, checksum=checksum, os_hash_value=value)
        elif secure:
            # active at once; its hashes follow
            await self._move(
                image_id, Move.ACTIVATE_WITH_LOCATION, location, size, os_hash_algo=algo
            )
            try:
                checksum, value = await self._hashes(image_id, store, url, algo, size, progress)
            except GlimpseError as exc:
                log.warning("hashing the data of image %s failed: %s", image_id, exc.message)
                return {"image_id": image_id}
            await self._set(image_id, None, checksum=checksum, os_hash_value=value)
        else:
            # as given: nothing is read
            await self._move(image_id, Move.ACTIVATE_WITH_LOCATION, location, size, **validation)
        return {"image_id": image_id}

    def _store(self, url: str) -> Store:
        try:
            return self.stores.for_location(Location(url))
        except GlimpseError:
            raise JobFailed("Invalid location: no configured store reads it") from None

    async def _move(
        self, image_id: str, move: Move, location: Location, size: int, **values: Any
    ) -> None:
        def work(repo: ImageRepository) -> None:
            image = repo.get_image(image_id, for_update=True)
            if image is None:
                raise JobFailed(f"Image {image_id} was deleted meanwhile")
            if image.status == move.target and [loc.url for loc in image.locations] == [
                location.url
            ]:
                return  # an earlier attempt of this task (its worker died) got this far
            if image.status != Status.QUEUED:
                raise JobFailed(f"Image {image_id} is no longer queued")
            repo.set_locations(image_id, [location])
            if not repo.move(image_id, move, {"size": size, **values}):
                raise JobFailed(f"Image {image_id} is no longer queued")

        await self.images.write(work)

    async def _set(self, image_id: str, move: Move | None, **values: Any) -> None:
        def work(repo: ImageRepository) -> bool:
            if move is not None:
                return repo.move(image_id, move, values)
            return repo.update_image(image_id, values)

        if not await self.images.write(work):
            raise JobFailed(f"Image {image_id} was deleted meanwhile")

    async def _hashes(
        self, image_id: str, store: Store, url: str, algo: str, size: int, progress: Progress
    ) -> tuple[str, str]:
        """md5 and ``algo`` of the data, read again up to ``http_retries`` times when a
        read breaks off; JobFailed once the image is gone (its deletion cancels this)."""
        for attempt in range(self.settings.http_retries + 1):
            md5 = hashlib.md5(usedforsecurity=False)
            digest = hashlib.new(algo)
            seen = unchecked = 0
            try:
                async for chunk in await store.read(url):
                    await run_blocking(_update, md5, digest, chunk)
                    seen += len(chunk)
                    unchecked += len(chunk)
                    progress.report(seen, size)
                    if unchecked >= _RECHECK:
                        unchecked = 0
                        await self._still_there(image_id)
            except GlimpseError:
                if attempt == self.settings.http_retries:
                    raise
                log.warning("image %s: reading %s broke off; reading it again", image_id, url)
                continue
            return md5.hexdigest(), digest.hexdigest()
        raise AssertionError("unreachable")

    async def _still_there(self, image_id: str) -> None:
        if await self.images.read(lambda repo: repo.get_status(image_id)) in (
            None,
            Status.DELETED,
            Status.PENDING_DELETE,
        ):
            raise JobFailed(f"Hash calculation for image {image_id} has been canceled")

    async def fail(self, task: Task, message: str) -> None:
        """An image whose data did not check out goes back to ``queued`` without the
        hashes; its location goes too, unless it is an HTTP one (Glance keeps those)."""
        image_id = task.image_id or ""
        url: str = task.input["loc_url"]

        def work(repo: ImageRepository) -> None:
            image = repo.get_image(image_id, for_update=True)
            if image is None or image.status != Status.IMPORTING:
                return
            if urlsplit(url).scheme.lower() not in ("http", "https"):
                repo.set_locations(image_id, [])
            repo.move(
                image_id,
                Move.FAIL_IMPORT,
                {"os_hash_algo": None, "os_hash_value": None, "checksum": None, "size": None},
            )

        try:
            await self.images.write(work)
        except Exception:
            log.exception("could not record the failed location import of %s", image_id)


def _update(md5: Any, digest: Any, chunk: bytes) -> None:
    md5.update(chunk)
    digest.update(chunk)
