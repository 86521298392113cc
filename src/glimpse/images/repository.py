"""The SQL of image records: images, their properties, tags and locations, over the
connection of one unit of work.

Methods take and return the plain objects of ``glimpse.model.images``. Status changes go
through :meth:`ImageRepository.move`, the compare-and-set of ``images/status.py``'s table.
Listing's SQL is in ``listing.py``, the visibility rule in ``visibility.py``, members' SQL
in ``member_repository.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Row,
    Text,
    bindparam,
    delete,
    false,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from glimpse.clock import utcnow
from glimpse.db import lean
from glimpse.db.aggregates import json_array_of, json_object_of, json_tuple
from glimpse.db.tables import (
    image_locations,
    image_members,
    image_properties,
    image_tags,
    images,
)
from glimpse.images import listing, visibility
from glimpse.images.status import Move
from glimpse.model.context import Viewer
from glimpse.model.images import BASE_ATTRIBUTES, Image, Location, Status
from glimpse.model.listing import ImageQuery

IMAGE_COLUMNS = [images.c[name] for name in BASE_ATTRIBUTES]
# an image's properties, tags and stores as JSON in its own row: one statement reads an
# image (or a page of them) whole
EXTRA_COLUMNS = [
    select(json_object_of(image_properties.c.name, image_properties.c.value))
    .where(image_properties.c.image_id == images.c.id)
    .scalar_subquery()
    .label("x_properties"),
    select(json_array_of(image_tags.c.value))
    .where(image_tags.c.image_id == images.c.id)
    .scalar_subquery()
    .label("x_tags"),
    # where the data is, [location id, store, url, metadata] each
    select(
        json_array_of(
            json_tuple(
                image_locations.c.id,
                image_locations.c.store,
                image_locations.c.url,
                image_locations.c.meta,
            )
        )
    )
    .where(image_locations.c.image_id == images.c.id)
    .scalar_subquery()
    .label("x_locations"),
]
WHOLE_IMAGE_COLUMNS = [*IMAGE_COLUMNS, *EXTRA_COLUMNS]

# Statements on the hot path are built once: SQLAlchemy then skips building them and
# computing their cache keys on every request.
_LIVE_IMAGE = select(*WHOLE_IMAGE_COLUMNS).where(
    images.c.id == bindparam("image_id"), images.c.deleted == false()
)
_LIVE_IMAGE_FOR_UPDATE = _LIVE_IMAGE.with_for_update()
_STATUS = select(images.c.status).where(images.c.id == bindparam("image_id"))
_INSERT_IMAGE = insert(images)
# PostgreSQL: an image, its properties and its tags in one statement (data-modifying
# CTEs; the foreign keys are checked at its end), not three round trips
_TEXTS = ARRAY(Text)
_INSERT_WHOLE = (
    insert(image_tags)
    .from_select(
        ["image_id", "value", "created_at", "visibility", "owner"],
        select(
            bindparam("id", type_=Text),
            func.unnest(bindparam("x_tags", type_=_TEXTS)),
            bindparam("created_at", type_=images.c.created_at.type),
            bindparam("visibility", type_=Text),
            bindparam("owner", type_=Text),
        ),
    )
    .add_cte(
        insert(images)
        .values(
            {
                **{name: bindparam(name, type_=images.c[name].type) for name in BASE_ATTRIBUTES},
                "deleted": False,
            }
        )
        .cte("new_image"),
        insert(image_properties)
        .from_select(
            ["image_id", "name", "value"],
            select(
                bindparam("id", type_=Text),
                func.unnest(bindparam("x_names", type_=_TEXTS), bindparam("x_values", type_=_TEXTS))
                .table_valued("name", "value")
                .render_derived(),
            ),
        )
        .cte("new_properties"),
    )
)
# a tag row carries its image's created_at, visibility and owner (0200_tag_sort_keys)
TAG_COPIES = ("created_at", "visibility", "owner")


def _image_columns(*names: str) -> dict[str, Any]:
    """The image ``x_image_id``'s columns, as values an INSERT or UPDATE of its tag rows
    copies."""
    return {
        name: select(images.c[name]).where(images.c.id == bindparam("x_image_id")).scalar_subquery()
        for name in names
    }


_INSERT_TAG = insert(image_tags).values(_image_columns(*TAG_COPIES))
_SYNC_TAGS = (
    update(image_tags)
    .where(image_tags.c.image_id == bindparam("x_image_id"))
    .values(_image_columns("visibility", "owner"))
)
_UPDATE_LIVE = update(images).where(
    images.c.id == bindparam("b_image_id"), images.c.deleted == false()
)
_MOVE = _UPDATE_LIVE.where(images.c.status.in_(bindparam("b_from", expanding=True)))
# a move of an image the API no longer shows (pending_delete: restored or scrubbed)
_MOVE_HIDDEN = update(images).where(
    images.c.id == bindparam("b_image_id"),
    images.c.status.in_(bindparam("b_from", expanding=True)),
)
_FORGET_EACH = [
    delete(table).where(table.c.image_id == bindparam("image_id"))
    for table in (image_properties, image_tags, image_members)
]
# PostgreSQL runs data-modifying CTEs: the three deletes in one round trip
_FORGET_ALL = _FORGET_EACH[2].add_cte(
    _FORGET_EACH[0].cte("gone_properties"), _FORGET_EACH[1].cte("gone_tags")
)
_HELD = (
    select(image_locations.c.url)
    .where(image_locations.c.url.in_(bindparam("urls", expanding=True)))
    .distinct()
)
_IS_MEMBER = select(image_members.c.id).where(
    image_members.c.image_id == bindparam("image_id"),
    image_members.c.member == bindparam("project"),
)


# Lists built recently, by everything that went into them: building one (SQLAlchemy's
# statement objects) cost half a list request's CPU, and the same lists are asked for
# again and again (a dashboard's, a service's polling). About 70 KiB each.
_LISTS: dict[tuple[Any, ...], Any] = {}
_LISTS_KEPT = 32
# requests build lists on many database threads: one evicts and inserts at a time
_LISTS_LOCK = threading.Lock()


def _list_statement(query: ImageQuery, viewer: Viewer, marker: Image | None) -> Any:
    after = None
    if marker is not None:
        after = (marker.id, *(getattr(marker, name) for name, _ in query.sort))
    key = (repr(query), viewer, after)
    found = _LISTS.get(key)
    if found is None:
        found = listing.statement(query, viewer, marker, WHOLE_IMAGE_COLUMNS)
        with _LISTS_LOCK:
            while len(_LISTS) >= _LISTS_KEPT:
                del _LISTS[next(iter(_LISTS))]  # the oldest built
            _LISTS[key] = found
    return found


def image_from_row(row: Row[Any]) -> Image:
    return Image(**row._asdict())


def whole_image(values: dict[str, Any]) -> Image:
    """An image from a row of ``WHOLE_IMAGE_COLUMNS`` (as a dict)."""
    properties, tags, locations = (
        values.pop(key) for key in ("x_properties", "x_tags", "x_locations")
    )
    image = Image(**values)
    if properties is not None:
        image.properties = orjson.loads(properties)
    if tags is not None:
        image.tags = orjson.loads(tags)
    if locations is not None:
        image.place(
            [
                Location(url, _metadata(meta), name)
                for _, name, url, meta in sorted(orjson.loads(locations))  # by location id
            ]
        )
    return image


def _metadata(meta: str) -> dict[str, object]:
    # nearly always empty: skip the parse
    return {} if meta == "{}" else orjson.loads(meta)


class ImageRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    # ------------------------------------------------------------------ images

    def get_image(self, image_id: str, *, for_update: bool = False) -> Image | None:
        """A live (not deleted) image with its properties and tags."""
        if for_update and self.dialect == "postgresql":
            row = self.conn.execute(_LIVE_IMAGE_FOR_UPDATE, {"image_id": image_id}).first()
            return None if row is None else whole_image(row._asdict())
        # the lookup of every GET: on the driver's cursor (db/lean.py)
        values = lean.first(self.conn, _LIVE_IMAGE, {"image_id": image_id})
        return None if values is None else whole_image(values)

    def get_marker(self, image_id: str) -> Image | None:
        """The image a list page starts after: a deleted one too, as Glance pages after a
        marker deleted since the previous page (only its base attributes are needed)."""
        row = self.conn.execute(select(*IMAGE_COLUMNS).where(images.c.id == image_id)).first()
        return image_from_row(row) if row is not None else None

    def get_status(self, image_id: str) -> str | None:
        """The status of an image, deleted ones included; None if it never existed."""
        return self.conn.execute(_STATUS, {"image_id": image_id}).scalar()

    def statuses(self, image_ids: list[str]) -> dict[str, str]:
        """The status of each of these images that exists (deleted ones included)."""
        if not image_ids:
            return {}
        rows = self.conn.execute(
            select(images.c.id, images.c.status).where(images.c.id.in_(image_ids))
        )
        return {row.id: row.status for row in rows}

    def id_exists(self, image_id: str) -> bool:
        """Whether an image with this id exists or ever existed (ids are never reused)."""
        return self.get_status(image_id) is not None

    def add_image(self, image: Image) -> None:
        if self.dialect == "postgresql":
            self.conn.execute(
                _INSERT_WHOLE,
                {
                    **image.base_values(),
                    "x_names": list(image.properties),
                    "x_values": list(image.properties.values()),
                    "x_tags": list(image.tags),
                },
            )
            return
        self.conn.execute(_INSERT_IMAGE, {**image.base_values(), "deleted": False})
        if image.properties:
            self.conn.execute(
                insert(image_properties),
                [
                    {"image_id": image.id, "name": k, "value": v}
                    for k, v in image.properties.items()
                ],
            )
        if image.tags:
            self.conn.execute(
                insert(image_tags),
                [
                    {
                        "image_id": image.id,
                        "value": t,
                        **{name: getattr(image, name) for name in TAG_COPIES},
                    }
                    for t in image.tags
                ],
            )

    def update_image(self, image_id: str, values: dict[str, Any]) -> bool:
        """Set columns of a live image, its status excepted (see :meth:`move`). Returns
        whether a row changed."""
        assert "status" not in values, "status changes go through move()"
        # the SET clause is made from the keys of the parameters (compiled once per set)
        result = self.conn.execute(_UPDATE_LIVE, {**values, "b_image_id": image_id})
        self._sync_tags(image_id, values)
        return result.rowcount == 1

    def _sync_tags(self, image_id: str, values: dict[str, Any]) -> None:
        """Keep the copies of visibility and owner in the image's tag rows in step."""
        if "visibility" in values or "owner" in values:
            self.conn.execute(_SYNC_TAGS, {"x_image_id": image_id})

    def move(self, image_id: str, move: Move, values: dict[str, Any] | None = None) -> bool:
        """Compare-and-set: give a live image ``move``'s target status (and ``values``)
        only if its status is still one of ``move``'s sources. Returns whether it moved."""
        params = {
            **(values or {}),
            "status": move.target,
            "b_image_id": image_id,
            "b_from": list(move.sources),
        }
        params.setdefault("updated_at", utcnow())
        moved = self.conn.execute(_MOVE, params).rowcount == 1
        if moved:
            self._sync_tags(image_id, params)
        return moved

    def save_extras(
        self,
        image_id: str,
        *,
        set_properties: dict[str, str | None] | None = None,
        remove_properties: Iterable[str] = (),
        tags: Collection[str] | None = None,
    ) -> None:
        removed = list(remove_properties)
        if set_properties:
            removed.extend(set_properties)
        if removed:
            self.conn.execute(
                delete(image_properties).where(
                    image_properties.c.image_id == image_id, image_properties.c.name.in_(removed)
                )
            )
        if set_properties:
            self.conn.execute(
                insert(image_properties),
                [{"image_id": image_id, "name": k, "value": v} for k, v in set_properties.items()],
            )
        if tags is not None:
            self.conn.execute(delete(image_tags).where(image_tags.c.image_id == image_id))
            if tags:
                self.conn.execute(
                    _INSERT_TAG,
                    [{"image_id": image_id, "x_image_id": image_id, "value": t} for t in tags],
                )

    def add_tag(self, image_id: str, tag: str) -> None:
        exists_already = self.conn.execute(
            select(image_tags.c.value).where(
                image_tags.c.image_id == image_id, image_tags.c.value == tag
            )
        ).first()
        if exists_already is None:
            self.conn.execute(
                _INSERT_TAG, {"image_id": image_id, "x_image_id": image_id, "value": tag}
            )

    def remove_tag(self, image_id: str, tag: str) -> bool:
        result = self.conn.execute(
            delete(image_tags).where(image_tags.c.image_id == image_id, image_tags.c.value == tag)
        )
        return result.rowcount == 1

    def delete_image(self, image_id: str) -> bool:
        """Soft-delete a live image (the row stays so that its id is never reused and an
        upload in flight learns its image is gone). Its metadata rows go."""
        now = utcnow()
        if not self.move(
            image_id, Move.DELETE, {"deleted": True, "deleted_at": now, "updated_at": now}
        ):
            return False
        self._forget_metadata(image_id)
        return True

    def _forget_metadata(self, image_id: str) -> None:
        """Delete an image's properties, tags and members."""
        if self.dialect == "postgresql":
            self.conn.execute(_FORGET_ALL, {"image_id": image_id})
            return
        for statement in _FORGET_EACH:
            self.conn.execute(statement, {"image_id": image_id})

    # ------------------------------------------------------------ delayed delete

    def delay_delete(self, image_id: str) -> bool:
        """Hide a live image as ``pending_delete``, keeping its data, locations and
        metadata for a restore until the scrubber's turn."""
        now = utcnow()
        values = {"deleted": True, "deleted_at": now, "updated_at": now}
        return self.move(image_id, Move.DELAY_DELETE, values)

    def restore(self, image_id: str) -> bool:
        """Bring a ``pending_delete`` image back as ``active``."""
        params = {
            "status": Move.RESTORE.target, "deleted": False, "deleted_at": None,
            "updated_at": utcnow(), "b_image_id": image_id, "b_from": list(Move.RESTORE.sources),
        }  # fmt: skip
        return self.conn.execute(_MOVE_HIDDEN, params).rowcount == 1

    def due_for_scrub(self, deleted_before: datetime, limit: int) -> list[str]:
        query = (
            select(images.c.id)
            .where(images.c.status == Status.PENDING_DELETE, images.c.deleted_at <= deleted_before)
            .order_by(images.c.deleted_at)
            .limit(limit)
        )
        return list(self.conn.execute(query).scalars())

    def scrub(self, image_id: str) -> list[Location] | None:
        """Claim a ``pending_delete`` image for removal (one node wins the
        compare-and-set) and forget its locations and metadata; the locations to remove
        the data from, or None when another node (or a restore) came first."""
        params = {
            "status": Move.SCRUB.target, "updated_at": utcnow(), "b_image_id": image_id,
            "b_from": list(Move.SCRUB.sources),
        }  # fmt: skip
        if self.conn.execute(_MOVE_HIDDEN, params).rowcount != 1:
            return None
        self._forget_metadata(image_id)
        return self.remove_locations(image_id)

    def storage_used(self, owner: str | None) -> int:
        """Bytes held by an owner's live images (one copy per location)."""
        locations = (
            select(func.count()).where(image_locations.c.image_id == images.c.id).scalar_subquery()
        )
        owner_match = images.c.owner.is_(None) if owner is None else images.c.owner == owner
        query = select(func.coalesce(func.sum(images.c.size * locations), 0)).where(
            owner_match, images.c.deleted == false(), images.c.size.is_not(None)
        )
        return int(self.conn.execute(query).scalar() or 0)

    # ------------------------------------------------------- visibility, listing

    def is_member(self, image_id: str, project: str) -> bool:
        found = self.conn.execute(_IS_MEMBER, {"image_id": image_id, "project": project})
        return found.first() is not None

    def can_see(self, image: Image, viewer: Viewer) -> bool:
        return visibility.can_see(
            image,
            viewer,
            is_member=lambda: (
                viewer.project is not None and self.is_member(image.id, viewer.project)
            ),
        )

    def list_images(self, query: ImageQuery, viewer: Viewer, marker: Image | None) -> list[Image]:
        statement = _list_statement(query, viewer, marker)
        if marker is None:
            # a first page (the one dashboards and pollers ask for again and again): on
            # the driver's cursor (db/lean.py); a page after a marker is a new statement
            # each time, which SQLAlchemy's cache of compiled shapes serves better
            return [whole_image(values) for values in lean.rows(self.conn, statement)]
        return [whole_image(row._asdict()) for row in self.conn.execute(statement)]

    # ----------------------------------------------------------------- locations

    def get_locations(self, image_id: str) -> list[Location]:
        rows = self.conn.execute(
            select(image_locations.c.url, image_locations.c.meta, image_locations.c.store)
            .where(image_locations.c.image_id == image_id)
            .order_by(image_locations.c.id)
        ).all()
        return [Location(url=r.url, metadata=orjson.loads(r.meta), store=r.store) for r in rows]

    def add_location(self, image_id: str, location: Location) -> None:
        self.conn.execute(
            insert(image_locations).values(
                image_id=image_id,
                url=location.url,
                store=location.store,
                meta=orjson.dumps(location.metadata).decode(),
                created_at=utcnow(),
            )
        )

    def set_locations(self, image_id: str, locations: list[Location]) -> None:
        """Make ``locations`` the image's locations, in this order (the rows are written
        anew: their ids keep the order)."""
        self.conn.execute(delete(image_locations).where(image_locations.c.image_id == image_id))
        now = utcnow()
        if locations:
            self.conn.execute(
                insert(image_locations),
                [
                    {
                        "image_id": image_id,
                        "url": location.url,
                        "store": location.store,
                        "meta": orjson.dumps(location.metadata).decode(),
                        "created_at": now,
                    }
                    for location in locations
                ],
            )

    def unheld(self, locations: list[Location]) -> list[Location]:
        """Those of ``locations`` (no longer any image's) whose URL no image has a
        location at either, live or waiting for the scrubber: the data to remove. A
        location added through the location APIs may name data another image holds."""
        if not locations:
            return []
        urls = {location.url for location in locations}
        held = set(self.conn.execute(_HELD, {"urls": list(urls)}).scalars())
        return [location for location in locations if location.url not in held]

    def remove_locations(self, image_id: str) -> list[Location]:
        """Forget the image's locations; returns those whose data is to be removed."""
        removed = self.conn.execute(
            delete(image_locations)
            .where(image_locations.c.image_id == image_id)
            .returning(
                image_locations.c.id, image_locations.c.url,
                image_locations.c.meta, image_locations.c.store,
            )
        ).all()  # fmt: skip
        return self.unheld(
            [
                Location(url=r.url, metadata=orjson.loads(r.meta), store=r.store)
                for r in sorted(removed, key=lambda r: r.id)
            ]
        )

    def remove_store_locations(self, image_id: str, store: str) -> list[Location]:
        """Forget the image's locations in ``store``; returns those whose data is to be
        removed."""
        found = [location for location in self.get_locations(image_id) if location.store == store]
        self.conn.execute(
            delete(image_locations).where(
                image_locations.c.image_id == image_id, image_locations.c.store == store
            )
        )
        return self.unheld(found)
