"""All SQL of glimpse: one repository over one connection (one transaction).

Methods return and take the plain objects of ``glimpse.images.model``. Status changes are
compare-and-set: an ``UPDATE`` names the statuses it may move from and reports whether it
won, so concurrent requests on any number of nodes cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)

from glimpse.db.tables import (
    image_locations,
    image_members,
    image_properties,
    image_tags,
    image_uploads,
    images,
    orphaned_data,
)
from glimpse.images.listing import ImageQuery, Viewer
from glimpse.images.model import BASE_ATTRIBUTES, Image, Location, Member, utcnow

_IMAGE_COLUMNS = [images.c[name] for name in BASE_ATTRIBUTES]

# Statements on the hot path are built once: SQLAlchemy then skips building them and
# computing their cache keys on every request.
_LIVE_IMAGE = select(*_IMAGE_COLUMNS).where(
    images.c.id == bindparam("image_id"), images.c.deleted == false()
)
_LIVE_IMAGE_FOR_UPDATE = _LIVE_IMAGE.with_for_update()
_STATUS = select(images.c.status).where(images.c.id == bindparam("image_id"))
_INSERT_IMAGE = insert(images)
_UPDATE_LIVE = update(images).where(
    images.c.id == bindparam("b_image_id"), images.c.deleted == false()
)
_UPDATE_LIVE_FROM = _UPDATE_LIVE.where(images.c.status.in_(bindparam("b_from", expanding=True)))
_EXTRAS_OF_MANY = union_all(
    select(
        image_properties.c.image_id,
        literal("p"),
        image_properties.c.name,
        image_properties.c.value,
    ).where(image_properties.c.image_id.in_(bindparam("image_ids", expanding=True))),
    select(image_tags.c.image_id, literal("t"), image_tags.c.value, null()).where(
        image_tags.c.image_id.in_(bindparam("image_ids", expanding=True))
    ),
)
# properties ("p", name, value) and tags ("t", tag, NULL) of one image in one round trip
_EXTRAS_OF_ONE = union_all(
    select(literal("p"), image_properties.c.name, image_properties.c.value).where(
        image_properties.c.image_id == bindparam("image_id")
    ),
    select(literal("t"), image_tags.c.value, null()).where(
        image_tags.c.image_id == bindparam("image_id")
    ),
)


def _image_from_row(row: Row[Any]) -> Image:
    return Image(**row._asdict())


class Repository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    # ------------------------------------------------------------------ images

    def get_image(self, image_id: str, *, for_update: bool = False) -> Image | None:
        """A live (not deleted) image with its properties and tags."""
        query = (
            _LIVE_IMAGE_FOR_UPDATE if for_update and self.dialect == "postgresql" else _LIVE_IMAGE
        )
        row = self.conn.execute(query, {"image_id": image_id}).first()
        if row is None:
            return None
        image = _image_from_row(row)
        for kind, name, value in self.conn.execute(_EXTRAS_OF_ONE, {"image_id": image_id}):
            if kind == "p":
                image.properties[name] = value
            else:
                image.tags.append(name)
        return image

    def get_status(self, image_id: str) -> str | None:
        """The status of an image, deleted ones included; None if it never existed."""
        return self.conn.execute(_STATUS, {"image_id": image_id}).scalar()

    def id_exists(self, image_id: str) -> bool:
        """Whether an image with this id exists or ever existed (ids are never reused)."""
        return self.get_status(image_id) is not None

    def _load_extras(self, found: Sequence[Image]) -> None:
        if not found:
            return
        by_id = {image.id: image for image in found}
        rows = self.conn.execute(_EXTRAS_OF_MANY, {"image_ids": list(by_id)})
        for image_id, kind, name, value in rows:
            if kind == "p":
                by_id[image_id].properties[name] = value
            else:
                by_id[image_id].tags.append(name)

    def add_image(self, image: Image) -> None:
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
                insert(image_tags), [{"image_id": image.id, "value": t} for t in image.tags]
            )

    def update_image(
        self,
        image_id: str,
        values: dict[str, Any],
        *,
        from_statuses: Collection[str] | None = None,
    ) -> bool:
        """Set columns of a live image; with ``from_statuses``, only if its status is one
        of them (compare-and-set). Returns whether a row changed."""
        params = {**values, "b_image_id": image_id}
        statement = _UPDATE_LIVE
        if from_statuses is not None:
            statement = _UPDATE_LIVE_FROM
            params["b_from"] = list(from_statuses)
        # the SET clause is made from the keys of `params` (compiled once per key set)
        result = self.conn.execute(statement, params)
        return result.rowcount == 1

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
                    insert(image_tags), [{"image_id": image_id, "value": t} for t in tags]
                )

    def add_tag(self, image_id: str, tag: str) -> None:
        exists_already = self.conn.execute(
            select(image_tags.c.value).where(
                image_tags.c.image_id == image_id, image_tags.c.value == tag
            )
        ).first()
        if exists_already is None:
            self.conn.execute(insert(image_tags).values(image_id=image_id, value=tag))

    def remove_tag(self, image_id: str, tag: str) -> bool:
        result = self.conn.execute(
            delete(image_tags).where(image_tags.c.image_id == image_id, image_tags.c.value == tag)
        )
        return result.rowcount == 1

    def mark_deleted(self, image_id: str, *, status: str = "deleted") -> bool:
        """Soft-delete a live image (the row stays so that its id is never reused and an
        upload in flight learns its image is gone). Its metadata rows go."""
        now = utcnow()
        result = self.conn.execute(
            update(images)
            .where(images.c.id == image_id, images.c.deleted == false())
            .values(status=status, deleted=True, deleted_at=now, updated_at=now)
        )
        if result.rowcount != 1:
            return False
        for table in (image_properties, image_tags, image_members):
            self.conn.execute(delete(table).where(table.c.image_id == image_id))
        return True

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

    # --------------------------------------------------------------- visibility

    def is_member(self, image_id: str, project: str) -> bool:
        return (
            self.conn.execute(
                select(image_members.c.id).where(
                    image_members.c.image_id == image_id, image_members.c.member == project
                )
            ).first()
            is not None
        )

    def can_see(self, image: Image, viewer: Viewer) -> bool:
        if viewer.is_admin or image.owner is None:
            return True
        if image.visibility in ("public", "community"):
            return True
        if viewer.project is None:
            return False
        if image.owner == viewer.project:
            return True
        return image.visibility == "shared" and self.is_member(image.id, viewer.project)

    # ------------------------------------------------------------------ listing

    def list_images(self, query: ImageQuery, viewer: Viewer, marker: Image | None) -> list[Image]:
        conditions: list[ColumnElement[bool]] = [
            images.c.deleted == false(),
            images.c.status != "killed",
            images.c.os_hidden == (true() if query.os_hidden else false()),
            self._visible_in_list(query, viewer),
        ]
        for column, accepted in query.values.items():
            col = images.c[column]
            conditions.append(col == accepted[0] if len(accepted) == 1 else col.in_(accepted))
        for tf in query.times:
            col = images.c[tf.column]
            conditions.append(
                {
                    "gt": col > tf.value,
                    "gte": col >= tf.value,
                    "lt": col < tf.value,
                    "lte": col <= tf.value,
                    "eq": col == tf.value,
                    "neq": col != tf.value,
                }[tf.op]
            )
        for column, (low, high) in query.ranges.items():
            if low is not None:
                conditions.append(images.c[column] >= low)
            if high is not None:
                conditions.append(images.c[column] <= high)
        if query.protected is not None:
            conditions.append(images.c.protected == (true() if query.protected else false()))
        for tag in query.tags:
            conditions.append(
                exists().where(image_tags.c.image_id == images.c.id, image_tags.c.value == tag)
            )
        for name, value in query.properties.items():
            conditions.append(
                exists().where(
                    image_properties.c.image_id == images.c.id,
                    image_properties.c.name == name,
                    image_properties.c.value == value,
                )
            )
        if marker is not None:
            conditions.append(_after_marker(query.sort, marker))

        order = []
        for key, direction in query.sort:
            col = images.c[key]
            # NULL sorts as the smallest value on every database
            order.append(col.asc().nulls_first() if direction == "asc" else col.desc().nulls_last())
        rows = self.conn.execute(
            select(*_IMAGE_COLUMNS).where(*conditions).order_by(*order).limit(query.limit)
        ).all()
        found = [_image_from_row(row) for row in rows]
        self._load_extras(found)
        return found

    def _visible_in_list(self, query: ImageQuery, viewer: Viewer) -> ColumnElement[bool]:
        """Glance's list: what the caller may list, narrowed by ``visibility`` (a value
        outside the four matches nothing; ``all`` keeps everything). Without one, only
        the caller's own community images are listed."""
        vis = images.c.visibility
        project = viewer.project
        owned = images.c.owner == project if project is not None else false()
        if viewer.is_admin:
            listable: ColumnElement[bool] = true()
        else:
            membership = (
                exists().where(
                    image_members.c.image_id == images.c.id,
                    image_members.c.member == project,
                    *(
                        []
                        if query.member_status == "all"
                        else [image_members.c.status == query.member_status]
                    ),
                )
                if project is not None
                else false()
            )
            listable = or_(
                vis.in_(["public", "community"]), owned, and_(vis == "shared", membership)
            )
        if query.visibility is None:
            return and_(listable, or_(vis != "community", owned))
        if query.visibility == "all":
            return listable
        return and_(listable, vis == query.visibility)

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

    def remove_locations(self, image_id: str) -> list[Location]:
        found = self.get_locations(image_id)
        self.conn.execute(delete(image_locations).where(image_locations.c.image_id == image_id))
        return found

    # ------------------------------------------------------------- upload leases

    def take_upload_lease(
        self, image_id: str, store: str, location: str, node: str, expires_at: datetime
    ) -> None:
        self.conn.execute(delete(image_uploads).where(image_uploads.c.image_id == image_id))
        self.conn.execute(
            insert(image_uploads).values(
                image_id=image_id, store=store, location=location, node=node, expires_at=expires_at
            )
        )

    def renew_upload_lease(self, image_id: str, expires_at: datetime) -> bool:
        """Extend a lease; False when the upload's image was deleted or reset meanwhile."""
        result = self.conn.execute(
            update(image_uploads)
            .where(image_uploads.c.image_id == image_id)
            .values(expires_at=expires_at)
        )
        return result.rowcount == 1 and self.get_status(image_id) == "saving"

    def drop_upload_lease(self, image_id: str) -> None:
        self.conn.execute(delete(image_uploads).where(image_uploads.c.image_id == image_id))

    def expired_upload_leases(self, now: datetime, limit: int = 100) -> list[tuple[str, str, str]]:
        query = (
            select(image_uploads.c.image_id, image_uploads.c.store, image_uploads.c.location)
            .where(image_uploads.c.expires_at < now)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [(r.image_id, r.store, r.location) for r in self.conn.execute(query)]

    # --------------------------------------------------------------- orphans

    def add_orphan(self, store: str, location: str) -> None:
        self.conn.execute(
            insert(orphaned_data).values(store=store, location=location, created_at=utcnow())
        )

    def take_orphans(self, limit: int = 100) -> list[tuple[int, str, str]]:
        query = select(orphaned_data.c.id, orphaned_data.c.store, orphaned_data.c.location).limit(
            limit
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [(r.id, r.store, r.location) for r in self.conn.execute(query)]

    def forget_orphan(self, orphan_id: int) -> None:
        self.conn.execute(delete(orphaned_data).where(orphaned_data.c.id == orphan_id))

    # ----------------------------------------------------------------- members

    def get_member(self, image_id: str, member_id: str) -> Member | None:
        row = self.conn.execute(
            select(
                image_members.c.member,
                image_members.c.status,
                image_members.c.created_at,
                image_members.c.updated_at,
            ).where(image_members.c.image_id == image_id, image_members.c.member == member_id)
        ).first()
        if row is None:
            return None
        return Member(image_id, row.member, row.status, row.created_at, row.updated_at)

    def list_members(self, image_id: str, only: str | None = None) -> list[Member]:
        query = select(
            image_members.c.member,
            image_members.c.status,
            image_members.c.created_at,
            image_members.c.updated_at,
        ).where(image_members.c.image_id == image_id)
        if only is not None:
            query = query.where(image_members.c.member == only)
        rows = self.conn.execute(query.order_by(image_members.c.created_at, image_members.c.id))
        return [Member(image_id, r.member, r.status, r.created_at, r.updated_at) for r in rows]

    def count_members(self, image_id: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).where(image_members.c.image_id == image_id)
            ).scalar_one()
        )

    def add_member(self, member: Member) -> None:
        self.conn.execute(
            insert(image_members).values(
                image_id=member.image_id,
                member=member.member_id,
                status=member.status,
                created_at=member.created_at,
                updated_at=member.updated_at,
            )
        )

    def update_member(
        self, image_id: str, member_id: str, status: str, updated_at: datetime
    ) -> bool:
        result = self.conn.execute(
            update(image_members)
            .where(image_members.c.image_id == image_id, image_members.c.member == member_id)
            .values(status=status, updated_at=updated_at)
        )
        return result.rowcount == 1

    def delete_member(self, image_id: str, member_id: str) -> bool:
        result = self.conn.execute(
            delete(image_members).where(
                image_members.c.image_id == image_id, image_members.c.member == member_id
            )
        )
        return result.rowcount == 1


def _after_marker(sort: list[tuple[str, str]], marker: Image) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the given order (keyset pagination), with NULL
    as the smallest value."""
    clauses: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, direction in sort:
        col = images.c[key]
        value = getattr(marker, key)
        if direction == "asc":
            beyond = col.is_not(None) if value is None else col > value
            same = col.is_(None) if value is None else col == value
        else:
            beyond = false() if value is None else or_(col < value, col.is_(None))
            same = col.is_(None) if value is None else col == value
        clauses.append(and_(*equal_so_far, beyond))
        equal_so_far.append(same)
    return or_(*clauses) if clauses else not_(true())
