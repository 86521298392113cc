"""What the Image service does with image records: create, show, list, update, delete,
tags, deactivate/reactivate. Plain Python over the repository; no HTTP, no SQL.

Each public method is one unit of work: it runs as one database transaction, off the
event loop, with every check made inside it so that nothing changes between check and
write.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Collection
from typing import Any

from glimpse.auth.policy import Policy
from glimpse.clock import utcnow
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import (
    Conflict,
    GlimpseError,
    InvalidInput,
    LimitExceeded,
    NotFound,
    NotPermitted,
)
from glimpse.images.attributes import (
    CREATE_BASE,
    CREATE_IGNORED,
    READ_ONLY,
    check_create_base,
    check_create_extra,
    check_create_keys,
    check_property_size,
    counted_properties,
    within_quota,
)
from glimpse.images.locations import CheckedUrl, LocationEdit, UrlChecker
from glimpse.images.patch import (
    PatchLimits,
    PatchOp,
    apply_patch,
    check_integer_range,
    check_op,
    unique_tags,
)
from glimpse.images.protections import Operation, PropertyProtections
from glimpse.images.removal import DataRemoval
from glimpse.images.repository import ImageRepository
from glimpse.images.schema import Schemas
from glimpse.images.status import Move
from glimpse.images.visibility import policy_target
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Location, Status
from glimpse.model.listing import ImagePage, ImageQuery
from glimpse.notifications.notifier import Notifier
from glimpse.notifications.payloads import image_payload
from glimpse.quotas.enforcer import Quotas
from glimpse.quotas.usage import IMAGE_COUNT_TOTAL


class ImageService:
    def __init__(
        self,
        *,
        db: Database,
        removal: DataRemoval,
        policy: Policy,
        schemas: Schemas,
        settings: Settings,
        protections: PropertyProtections | None = None,
        notifier: Notifier | None = None,
        urls: UrlChecker | None = None,
    ) -> None:
        self.db = UnitsOfWork(db, ImageRepository)
        # unified limits, for every path that brings images or data in
        self.quotas = Quotas(db, settings)
        self.protections = protections or PropertyProtections(None, policy)
        self.notifier = notifier or Notifier(settings)
        self.removal = removal
        # whether new location URLs hold data (show_multiple_locations)
        self.urls = urls if settings.show_multiple_locations else None
        self.policy = policy
        self.schemas = schemas
        self.settings = settings

    # ------------------------------------------------------------ shared checks

    def found_image(
        self,
        repo: ImageRepository,
        context: RequestContext,
        image_id: str,
        *,
        for_update: bool = False,
    ) -> Image:
        """The image if the caller's project may see it (Glance's database rules), else
        404. No policy yet: Glance asks ``get_image`` only where a call needs it."""
        image = repo.get_image(image_id, for_update=for_update)
        if image is None or not repo.can_see(image, context.viewer):
            raise NotFound(f"No image found with ID {image_id}")
        return image

    def visible_image(
        self,
        repo: ImageRepository,
        context: RequestContext,
        image_id: str,
        *,
        for_update: bool = False,
    ) -> Image:
        """The image if this caller may see it and read it (``get_image``); 404 otherwise
        (never 403: an image the caller cannot see does not exist for them)."""
        image = self.found_image(repo, context, image_id, for_update=for_update)
        self.enforce(context, "get_image", image)
        return image

    def enforce(self, context: RequestContext, rule: str, image: Image) -> None:
        """Glance's image policy check: 403 when ``rule`` refuses, but 404 when the caller
        may not ``get_image`` either (the image does not exist for them)."""
        target = policy_target(image, context)
        if self.policy.allows(rule, context, target):
            return
        if rule == "get_image" or not self.policy.allows("get_image", context, target):
            raise NotFound(f"No image found with ID {image.id}")
        raise NotPermitted(f"You are not authorized to complete {rule} action.")

    def authorize_change(self, context: RequestContext, rule: str, image: Image) -> None:
        """:meth:`enforce`, then ownership: only the owner (or an admin) changes an image,
        and an image without an owner belongs to no caller (Glance's database layer)."""
        self.enforce(context, rule, image)
        if not context.is_admin and (image.owner is None or image.owner != context.project_id):
            raise NotPermitted(f"You are not permitted to {rule.replace('_', ' ')} this image.")

    def protect(
        self,
        context: RequestContext,
        name: str,
        operation: Operation,
        *,
        hidden: Collection[str] = (),
    ) -> None:
        """403 unless property protections let the caller do ``operation`` on ``name``.
        Creating a property that exists but that the caller may not read is refused too
        (Glance answers 500 and loses nothing; overwriting it unseen would)."""
        if name in hidden or not self.protections.allows(name, operation, context):
            raise NotPermitted(f"Attribute '{name}' is reserved.")

    def as_seen(self, context: RequestContext, image: Image) -> Image:
        """The image with only the properties the caller may read (in place)."""
        image.properties = self.protections.readable(image.properties, context)
        return image

    def notify(self, event_type: str, image: Image, **how: Any) -> None:
        """Send ``event_type`` about ``image`` (its whole record, before protections
        filter what a caller sees), if notifications are on."""
        if self.notifier.wants(event_type):
            self.notifier.emit(event_type, image_payload(image, **how))

    # ------------------------------------------------------------------ create

    async def create(self, context: RequestContext, body: dict[str, Any]) -> Image:
        image = self._new_image(context, body)
        chosen_id = body.get("id")
        limits = await self.quotas.limits(context.project_id)

        def work(repo: ImageRepository) -> Image:
            if limits is not None:
                limits.check(repo.conn, {IMAGE_COUNT_TOTAL: 1}, lock=True)
            # an id of our own (uuid4) cannot be taken: only the caller's is looked up
            if chosen_id and repo.id_exists(image.id):
                raise Conflict(f"Image with identifier {image.id} already exists!")
            repo.add_image(image)
            return image

        created = await self.db.write(work)
        self.notify("image.create", created)
        return self.as_seen(context, created)

    def _new_image(self, context: RequestContext, body: dict[str, Any]) -> Image:
        """Check a create body in Glance's order (deserializer, policy, factory, quota):
        the first failing rule decides the status code."""
        check_create_keys(body)
        self.schemas.validate_image(body)
        for name in body:
            if name not in CREATE_BASE and name not in READ_ONLY:
                check_create_extra(name)
                check_property_size(name, body[name])
        owner = body.get("owner", context.project_id)
        target = {"project_id": owner, "owner": owner, "member_id": None,
                  "visibility": body.get("visibility", "private")}  # fmt: skip
        self.policy.require("add_image", context, target)
        if target["visibility"] == "public":
            self.policy.require("publicize_image", context, target)
        elif target["visibility"] == "community":
            self.policy.require("communitize_image", context, target)
        if not context.is_admin and (owner is None or owner != context.project_id):
            raise NotPermitted(f"You are not permitted to create images owned by '{owner}'.")
        if self.protections.enabled:
            for name in body:
                if name not in CREATE_BASE and name not in CREATE_IGNORED:
                    self.protect(context, name, "create")
        # Glance counts the tags as sent, duplicates included
        raw_tags = body.get("tags", [])
        if not within_quota(len(raw_tags), self.settings.image_tag_quota):
            raise LimitExceeded(
                f"Maximum number of tags exceeded ({self.settings.image_tag_quota})."
            )
        check_create_base(body)
        for name in ("min_disk", "min_ram"):
            check_integer_range(name, body.get(name))
        properties = {
            k: v for k, v in body.items() if k not in CREATE_BASE and k not in CREATE_IGNORED
        }
        if not within_quota(counted_properties(properties), self.settings.image_property_quota):
            raise LimitExceeded(
                f"Maximum number of properties exceeded ({self.settings.image_property_quota})."
            )
        now = utcnow()
        return Image(
            id=body.get("id") or str(uuid.uuid4()),
            name=body.get("name"),
            visibility=body.get("visibility", "shared"),
            protected=body.get("protected", False),
            os_hidden=body.get("os_hidden", False),
            container_format=body.get("container_format"),
            disk_format=body.get("disk_format"),
            min_disk=body.get("min_disk", 0),
            min_ram=body.get("min_ram", 0),
            owner=owner,
            created_at=now,
            updated_at=now,
            properties=properties,
            tags=unique_tags(raw_tags),
        )

    # -------------------------------------------------------------- show, list

    async def get(self, context: RequestContext, image_id: str) -> Image:
        image = await self.db.read(lambda repo: self.visible_image(repo, context, image_id))
        return self.as_seen(context, image)

    async def locations(self, context: RequestContext, image_id: str) -> list[Location]:
        """Where an image's data is (``GET …/locations``, 2.17): for services, which read
        it from the stores themselves (``fetch_image_location``)."""

        def work(repo: ImageRepository) -> list[Location]:
            image = self.found_image(repo, context, image_id)
            self.enforce(context, "fetch_image_location", image)
            return repo.get_locations(image_id)

        return await self.db.read(work)

    async def list_images(self, context: RequestContext, query: ImageQuery) -> ImagePage:
        if not self.policy.allows("get_images", context, {"project_id": context.project_id}):
            raise NotPermitted("You are not authorized to complete get_images action.")

        def work(repo: ImageRepository) -> ImagePage:
            marker = None
            if query.marker is not None:
                marker = repo.get_marker(query.marker)
                if marker is None or not repo.can_see(marker, context.viewer):
                    raise InvalidInput(f"Invalid marker. Image {query.marker} could not be found.")
            found = repo.list_images(query, context.viewer, marker)
            # as Glance, each image is also held to get_image (an operator's policy may
            # be narrower than what the database shows), and the next page starts after
            # the last image kept, if the database filled this one
            decisions: dict[tuple[str | None, str], bool] = {}
            readable = []
            for image in found:
                # owner and visibility make the whole target: one check for each pair
                key = (image.owner, image.visibility)
                allowed = decisions.get(key)
                if allowed is None:
                    target = policy_target(image, context)
                    allowed = decisions[key] = self.policy.allows("get_image", context, target)
                if allowed:
                    readable.append(self.as_seen(context, image))
            full = len(found) == query.limit
            return ImagePage(readable, readable[-1].id if readable and full else None)

        return await self.db.read(work)

    # ------------------------------------------------------------------ update

    def check_patch_op(self, op: PatchOp) -> None:
        """The static checks of one PATCH operation, made while the body is parsed."""
        check_op(op, self.schemas)

    async def update(self, context: RequestContext, image_id: str, ops: list[PatchOp]) -> Image:
        """Apply operations that have each passed :meth:`check_patch_op`."""
        limits = PatchLimits(self.settings.image_property_quota, self.settings.image_tag_quota)
        checked = await self._check_location_urls(context, image_id, ops)
        removed: list[Location] = []

        def work(repo: ImageRepository) -> Image:
            image = self.found_image(repo, context, image_id, for_update=True)
            if not ops:
                return image  # Glance asks each operation's rules: none, no check at all
            target = policy_target(image, context)
            protect: Callable[[str, Operation], None] | None = None
            unseen: set[str] = set()
            if self.protections.enabled:
                every = set(image.properties)
                unseen = every - set(self.as_seen(context, image).properties)
                protect = functools.partial(self.protect, context, hidden=unseen)
            edit = None
            if self.urls is not None:
                edit = LocationEdit(
                    image,
                    checked,
                    quota=self.settings.image_location_quota,
                    hashing_algorithm=self.settings.hashing_algorithm,
                )

            changes = apply_patch(
                image,
                ops,
                limits=limits,
                may=lambda rule: self.policy.allows(rule, context, target),
                authorize=lambda rule: self.authorize_change(context, rule, image),
                is_admin=context.is_admin,
                protect=protect,
                unseen_properties=len(unseen),
                locations=edit,
            )
            relocated = edit is not None and edit.changed
            if changes.empty and not relocated:
                return image
            image.updated_at = utcnow()
            values = {**changes.base, "updated_at": image.updated_at}
            if edit is not None and relocated:
                quota = self.settings.user_storage_quota
                if edit.added and quota and not self.settings.use_keystone_limits:
                    edit.check_storage(repo.storage_used(image.owner), quota)
                repo.set_locations(image_id, edit.locations)
                removed.extend(repo.unheld(edit.removed()))
                values.update(edit.values)
                for name, value in edit.values.items():
                    setattr(image, name, value)
                image.place(edit.locations)
                if edit.activate:
                    if not repo.move(image_id, Move.ACTIVATE_WITH_LOCATION, values):
                        raise Move.ACTIVATE_WITH_LOCATION.refusal(
                            image_id, repo.get_status(image_id)
                        )
                    image.status = Status.ACTIVE
                    values = {}
            if values:
                repo.update_image(image_id, values)
            repo.save_extras(
                image_id,
                set_properties=changes.set_properties,
                remove_properties=changes.removed_properties,
                tags=changes.tags,
            )
            return image

        updated = await self.db.write(work)
        for location in removed:
            await self.removal.remove(location)
        if ops:
            self.notify("image.update", updated)
        return self.as_seen(context, updated)

    async def _check_location_urls(
        self, context: RequestContext, image_id: str, ops: list[PatchOp]
    ) -> dict[str, CheckedUrl]:
        """Whether the URLs a PATCH adds hold data: asked over the network before the
        unit of work, for a caller who may set the image's locations (URLs an image
        has already are not asked again when replaced)."""
        if self.urls is None or not any(op.name == "locations" for op in ops):
            return {}

        def current(repo: ImageRepository) -> set[str] | None:
            image = self.found_image(repo, context, image_id)
            try:
                self.authorize_change(context, "set_image_location", image)
            except GlimpseError:
                return None  # the edit answers with the refusal, in its order
            return {location.url for location in image.locations}

        present = await self.db.read(current)
        if present is None:
            return {}
        urls: set[str] = set()
        for op in ops:
            if op.name != "locations" or op.op == "remove":
                continue
            values = [op.value] if op.op == "add" else op.value
            found = {v["url"] for v in values if isinstance(v.get("url"), str)}
            urls |= found if op.op == "add" else found - present
        return await self.urls.check_all(urls)

    # ------------------------------------------------------------------ delete

    async def delete(self, context: RequestContext, image_id: str) -> None:
        def deletable(repo: ImageRepository, for_update: bool = False) -> Image:
            image = self.found_image(repo, context, image_id, for_update=for_update)
            self.authorize_change(context, "delete_image", image)
            if image.protected:
                raise NotPermitted(f"Image {image_id} is protected and cannot be deleted.")
            return image

        # data others depend on (RBD clones) keeps its image: 409 before anything changes
        # (a clone made after this check only delays the data's removal: housekeeping
        # retries it until the clone is gone)
        def locations_of(repo: ImageRepository) -> list[Location]:
            deletable(repo)
            return repo.get_locations(image_id)

        for location in await self.db.read(locations_of):
            await self.removal.check_removable(image_id, location)

        def work(repo: ImageRepository) -> tuple[Image, list[Location]]:
            image = deletable(repo, for_update=True)
            # delayed_delete (as Glance: only an image with data waits for the scrubber)
            if self.settings.delayed_delete and repo.get_locations(image_id):
                if not repo.delay_delete(image_id):
                    raise Move.DELAY_DELETE.refusal(image_id, repo.get_status(image_id))
                image.status = Status.PENDING_DELETE
                return image, []
            locations = repo.remove_locations(image_id)
            if not repo.delete_image(image_id):
                raise Move.DELETE.refusal(image_id, repo.get_status(image_id))
            image.status = Status.DELETED
            return image, locations

        image, locations = await self.db.write(work)
        for location in locations:
            await self.removal.remove(location)
        if self.notifier.wants("image.delete"):
            now = utcnow()
            image.updated_at = now
            self.notify("image.delete", image, deleted_at=now)

    # --------------------------------------------------------------------- tags

    async def add_tag(self, context: RequestContext, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise InvalidInput("Tag is longer than 255 characters.")

        def work(repo: ImageRepository) -> Image:
            image = self.found_image(repo, context, image_id, for_update=True)
            self.authorize_change(context, "modify_image", image)
            # a tag already there adds nothing, but the image is still saved (Glance)
            if tag not in image.tags:
                if not within_quota(len(image.tags) + 1, self.settings.image_tag_quota):
                    raise LimitExceeded(
                        f"Maximum number of tags exceeded ({self.settings.image_tag_quota})."
                    )
                repo.add_tag(image_id, tag)
                image.tags.append(tag)
            image.updated_at = utcnow()
            repo.update_image(image_id, {"updated_at": image.updated_at})
            return image

        self.notify("image.update", await self.db.write(work))

    async def remove_tag(self, context: RequestContext, image_id: str, tag: str) -> None:
        def work(repo: ImageRepository) -> Image:
            image = self.found_image(repo, context, image_id, for_update=True)
            self.authorize_change(context, "modify_image", image)
            if not repo.remove_tag(image_id, tag):
                raise NotFound(f"Tag {tag} not found.")
            image.tags = [t for t in image.tags if t != tag]
            image.updated_at = utcnow()
            repo.update_image(image_id, {"updated_at": image.updated_at})
            return image

        self.notify("image.update", await self.db.write(work))

    # ------------------------------------------------------ deactivate/reactivate

    async def deactivate(self, context: RequestContext, image_id: str) -> None:
        await self._toggle(context, image_id, "deactivate", Move.DEACTIVATE)

    async def reactivate(self, context: RequestContext, image_id: str) -> None:
        await self._toggle(context, image_id, "reactivate", Move.REACTIVATE)

    async def _toggle(self, context: RequestContext, image_id: str, rule: str, move: Move) -> None:
        def work(repo: ImageRepository) -> Image:
            image = self.found_image(repo, context, image_id, for_update=True)
            self.authorize_change(context, rule, image)
            # already at the target: Glance answers 204 and changes nothing
            if move.check(image_id, image.status):
                if not repo.move(image_id, move):
                    raise move.refusal(image_id, repo.get_status(image_id))
                image.status = move.target
            return image

        self.notify("image.update", await self.db.write(work))
