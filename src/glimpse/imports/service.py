"""``POST /v2/images/{id}/import``: Glance's checks in Glance's order, then one unit of
work that takes the image's import lock, queues the task and moves the image to
``importing``; a worker does the rest (``imports/job.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, InvalidInput
from glimpse.images.repository import ImageRepository
from glimpse.images.service import ImageService
from glimpse.images.status import Move
from glimpse.imports.web import WebSource
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Status
from glimpse.notifications.payloads import task_payload
from glimpse.quotas.usage import IMAGE_SIZE_TOTAL
from glimpse.stores.registry import StoreRegistry
from glimpse.stores.web_guard import UrlRefused
from glimpse.tasks.model import PRIVATE_INPUT, Task
from glimpse.tasks.repository import TaskRepository

IMPORT_TASK = "api_image_import"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED_IMPORT = "os_glance_failed_import"

# the status each method starts from
_STARTS_FROM = {
    "glance-direct": Status.UPLOADING,
    "web-download": Status.QUEUED,
    "glance-download": Status.QUEUED,
    "copy-image": Status.ACTIVE,
}


class ImportRepository:
    """An import's unit of work: the image, its lock and its task together."""

    def __init__(self, conn: Connection) -> None:
        self.images = ImageRepository(conn)
        self.tasks = TaskRepository(conn)


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be a boolean, not {value!r}")
    return value


def _check_glance_download(method: dict[str, Any]) -> None:
    """Glance's checks of a glance-download request; the interface defaults to public."""
    for field in ("glance_region", "glance_image_id"):
        if not isinstance(method.get(field), str) or not method[field]:
            raise InvalidInput(f"'{field}' needs to be set for glance-download import method")
    try:
        method["glance_image_id"] = str(uuid.UUID(method["glance_image_id"]))
    except ValueError:
        raise InvalidInput(
            f"Remote image id does not look like a UUID: {method['glance_image_id']}"
        ) from None
    interface = method.setdefault("glance_service_interface", "public")
    if not isinstance(interface, str):
        raise InvalidInput("'glance_service_interface' must be a string")


class ImportService:
    def __init__(
        self,
        *,
        images: ImageService,
        db: Database,
        stores: StoreRegistry,
        settings: Settings,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.images = images
        self.work = UnitsOfWork(db, ImportRepository)
        self.stores = stores
        self.settings = settings
        self.web = WebSource(settings)
        self.wake = wake

    async def start(
        self,
        context: RequestContext,
        image_id: str,
        body: object,
        store_header: str | None,
    ) -> Task:
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise InvalidInput("Import request requires a 'method' field.")
        method = body["method"]
        name = method.get("name")
        if not name:
            raise InvalidInput("Import request requires a 'name' field.")
        if name not in self.settings.enabled_import_methods:
            raise InvalidInput(f"Import method {name} is not valid for this cloud.")
        all_stores = _bool(body, "all_stores", False)
        must_succeed = _bool(body, "all_stores_must_succeed", True)
        limits = await self.images.quotas.limits(context.project_id)
        if limits is not None:  # Glance: 413 while image_size_total is already passed
            await self.images.db.read(lambda repo: limits.check(repo.conn, {IMAGE_SIZE_TOTAL: 0}))

        def check(repo: ImageRepository) -> Image:
            image = self.images.found_image(repo, context, image_id)
            current = image.status
            if name == "copy-image":
                if current != Status.ACTIVE:
                    raise Conflict("Image status must be active to copy it to other stores.")
            elif current != _STARTS_FROM[name]:
                raise Conflict(
                    f"Image {image_id} is in status {current}; the {name} import method "
                    f"needs it {_STARTS_FROM[name]}."
                )
            if not image.container_format or not image.disk_format:
                raise Conflict(
                    "The 'container_format' and 'disk_format' properties must be set on an "
                    "image before it can be imported."
                )
            if name == "glance-download":
                _check_glance_download(method)
            if name == "copy-image":
                self.images.enforce(context, "copy_image", image)
            else:
                self.images.authorize_change(context, "modify_image", image)
            return image

        image = await self.images.db.read(check)
        targets = self._targets(image, name, body, store_header, all_stores, must_succeed)
        if name == "web-download":
            uri = method.get("uri")
            if not isinstance(uri, str) or not uri:
                raise InvalidInput("A web-download import needs method.uri.")
            try:
                await self.web.check_request(uri)
            except UrlRefused:
                # Glance's words, which do not say which filter refused it
                raise InvalidInput(f"URI for web-download does not pass filtering: {uri}") from None
        if name == "copy-image" and not targets:
            return Task(id="", type=IMPORT_TASK)  # already everywhere: nothing to do
        task = Task(
            id=str(uuid.uuid4()),
            type=IMPORT_TASK,
            owner=context.project_id,
            image_id=image_id,
            request_id=context.request_id,
            user_id=context.user_id,
            input={
                "image_id": image_id,
                "import_req": {k: v for k, v in body.items()},
                "backend": targets,
                "all_stores_must_succeed": must_succeed,
                PRIVATE_INPUT: {"roles": list(context.roles)},
            },
        )

        def queue(repo: ImportRepository) -> None:
            if not repo.tasks.lock_image(image_id, task.id):
                raise Conflict(f"Image {image_id} is being imported by another task")
            if name != "copy-image" and not repo.images.move(image_id, Move.START_IMPORT):
                raise Move.START_IMPORT.refusal(image_id, repo.images.get_status(image_id))
            if self.stores.multi:
                current = repo.images.get_image(image_id)
                failed = (current.properties.get(FAILED_IMPORT) or "") if current else ""
                still_failed = [s for s in failed.split(",") if s and s not in targets]
                repo.images.save_extras(
                    image_id,
                    set_properties={
                        IMPORTING_TO: ",".join(targets),
                        FAILED_IMPORT: ",".join(still_failed),
                    },
                )
            # glance-download reads the other region as the caller, from any node
            token = context.auth_token if name == "glance-download" else None
            repo.tasks.add(task, auth_token=token)

        await self.work.write(queue)
        self.images.notifier.send("task.create", lambda: task_payload(task))
        self.wake()
        return task

    def _targets(
        self,
        image: Image,
        name: str,
        body: dict[str, Any],
        store_header: str | None,
        all_stores: bool,
        must_succeed: bool,
    ) -> list[str]:
        """The stores the data goes to (Glance's rules; without multi-store the one)."""
        if not self.stores.multi:
            if not must_succeed:
                raise InvalidInput("all_stores_must_succeed can only be false with multiple stores")
            return [self.stores.default.name]
        stores = body.get("stores")
        if all_stores and (stores is not None or store_header is not None):
            raise InvalidInput("all_stores cannot be combined with stores or X-Image-Meta-Store")
        if stores is not None and store_header is not None:
            raise InvalidInput("stores cannot be combined with X-Image-Meta-Store")
        writable = [store.name for store in self.stores if store.writable]
        if all_stores:
            targets = writable
        elif stores is not None:
            if not isinstance(stores, list) or not all(isinstance(s, str) for s in stores):
                raise InvalidInput("stores must be a list of store identifiers")
            targets = list(dict.fromkeys(stores))
        elif store_header is not None:
            targets = [store_header]
        else:
            targets = [self.stores.default.name]
        for target in targets:
            if target not in writable:
                raise Conflict(f"Store for identifier {target} not found")
        if name == "copy-image":
            held = [t for t in targets if t in image.stores]
            if held and not all_stores:
                raise InvalidInput(f"Image is already present at store '{','.join(held)}'")
            targets = [t for t in targets if t not in image.stores]
        return targets
