"""The SQL of the metadata definitions catalog, over the connection of one unit of work.

Names are unique per namespace (per catalog for namespaces and resource types); a
duplicate comes back from the database as an ``IntegrityError`` that the service turns
into Glance's 409, so two nodes racing to create the same name give one winner.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, delete, insert, or_, select, update

from glimpse.db.tables import (
    metadef_namespace_resource_types as ns_types,
)
from glimpse.db.tables import (
    metadef_namespaces as namespaces,
)
from glimpse.db.tables import (
    metadef_objects as objects,
)
from glimpse.db.tables import (
    metadef_properties as properties,
)
from glimpse.db.tables import (
    metadef_resource_types as resource_types,
)
from glimpse.db.tables import (
    metadef_tags as tags,
)
from glimpse.metadefs.model import (
    Association,
    Definition,
    MetadefObject,
    Namespace,
    NamespaceQuery,
    ResourceType,
    Tag,
)
from glimpse.model.context import Viewer


def _namespace(row: Row[Any]) -> Namespace:
    return Namespace(
        namespace=row.namespace,
        owner=row.owner,
        visibility=row.visibility,
        protected=row.protected,
        display_name=row.display_name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        id=row.id,
    )


def _object(row: Row[Any]) -> MetadefObject:
    return MetadefObject(
        name=row.name,
        description=row.description,
        required=orjson.loads(row.required) if row.required is not None else None,
        properties=orjson.loads(row.json_schema),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _dump(value: Any) -> str:
    return orjson.dumps(value).decode()


def visible(viewer: Viewer) -> Any:
    """Which namespaces a caller sees: public ones and their own project's (all, for
    an admin)."""
    if viewer.is_admin:
        return True
    return or_(namespaces.c.visibility == "public", namespaces.c.owner == viewer.project)


class MetadefRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # ---------------------------------------------------------------- namespaces

    def get_namespace(self, name: str) -> Namespace | None:
        row = self.conn.execute(select(namespaces).where(namespaces.c.namespace == name)).first()
        return _namespace(row) if row is not None else None

    def list_namespaces(self, query: NamespaceQuery, viewer: Viewer) -> list[Namespace]:
        key = namespaces.c[query.sort_key]
        stmt = select(namespaces).where(visible(viewer))
        if query.visibility is not None:
            stmt = stmt.where(namespaces.c.visibility == query.visibility)
        if query.resource_types:
            stmt = stmt.where(
                namespaces.c.id.in_(
                    select(ns_types.c.namespace_id)
                    .join(resource_types, resource_types.c.id == ns_types.c.resource_type_id)
                    .where(resource_types.c.name.in_(query.resource_types))
                )
            )
        descending = query.sort_dir == "desc"
        if query.marker is not None:
            marker = self.get_namespace(query.marker)
            assert marker is not None  # the service checked it
            after = (
                (key < getattr(marker, query.sort_key))
                if descending
                else (key > getattr(marker, query.sort_key))
            )
            same = key == getattr(marker, query.sort_key)
            tie = namespaces.c.id < marker.id if descending else namespaces.c.id > marker.id
            stmt = stmt.where(or_(after, and_(same, tie)))
        order = [key.desc(), namespaces.c.id.desc()] if descending else [key, namespaces.c.id]
        rows = self.conn.execute(stmt.order_by(*order).limit(query.limit))
        return [_namespace(row) for row in rows]

    def add_namespace(self, ns: Namespace) -> int:
        result = self.conn.execute(
            insert(namespaces).values(
                namespace=ns.namespace,
                display_name=ns.display_name,
                description=ns.description,
                visibility=ns.visibility,
                protected=ns.protected,
                owner=ns.owner,
                created_at=ns.created_at,
                updated_at=ns.updated_at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_namespace(self, ns: Namespace) -> None:
        self.conn.execute(
            update(namespaces)
            .where(namespaces.c.id == ns.id)
            .values(
                namespace=ns.namespace,
                display_name=ns.display_name,
                description=ns.description,
                visibility=ns.visibility,
                protected=ns.protected,
                owner=ns.owner,
                updated_at=ns.updated_at,
            )
        )

    def delete_namespace(self, namespace_id: int) -> None:
        # the database cascades to properties, objects, tags and associations
        self.conn.execute(delete(namespaces).where(namespaces.c.id == namespace_id))

    # ---------------------------------------------------------------- properties

    def properties(self, namespace_id: int) -> dict[str, Definition]:
        rows = self.conn.execute(
            select(properties.c.name, properties.c.json_schema)
            .where(properties.c.namespace_id == namespace_id)
            .order_by(properties.c.id)
        )
        return {row.name: orjson.loads(row.json_schema) for row in rows}

    def get_property(self, namespace_id: int, name: str) -> Definition | None:
        found = self.conn.execute(
            select(properties.c.json_schema).where(
                properties.c.namespace_id == namespace_id, properties.c.name == name
            )
        ).scalar()
        return orjson.loads(found) if found is not None else None

    def add_property(
        self, namespace_id: int, name: str, definition: Definition, now: datetime
    ) -> None:
        self.conn.execute(
            insert(properties).values(
                namespace_id=namespace_id,
                name=name,
                json_schema=_dump(definition),
                created_at=now,
                updated_at=now,
            )
        )

    def update_property(
        self, namespace_id: int, name: str, new_name: str, definition: Definition, now: datetime
    ) -> None:
        self.conn.execute(
            update(properties)
            .where(properties.c.namespace_id == namespace_id, properties.c.name == name)
            .values(name=new_name, json_schema=_dump(definition), updated_at=now)
        )

    def delete_property(self, namespace_id: int, name: str) -> bool:
        result = self.conn.execute(
            delete(properties).where(
                properties.c.namespace_id == namespace_id, properties.c.name == name
            )
        )
        return result.rowcount > 0

    def delete_properties(self, namespace_id: int) -> None:
        self.conn.execute(delete(properties).where(properties.c.namespace_id == namespace_id))

    # ------------------------------------------------------------------- objects

    def objects(self, namespace_id: int) -> list[MetadefObject]:
        rows = self.conn.execute(
            select(objects)
            .where(objects.c.namespace_id == namespace_id)
            .order_by(objects.c.created_at.desc(), objects.c.id.desc())
        )
        return [_object(row) for row in rows]

    def get_object(self, namespace_id: int, name: str) -> MetadefObject | None:
        row = self.conn.execute(
            select(objects).where(objects.c.namespace_id == namespace_id, objects.c.name == name)
        ).first()
        return _object(row) if row is not None else None

    def add_object(self, namespace_id: int, obj: MetadefObject) -> None:
        self.conn.execute(
            insert(objects).values(
                namespace_id=namespace_id,
                name=obj.name,
                description=obj.description,
                required=_dump(obj.required) if obj.required is not None else None,
                json_schema=_dump(obj.properties),
                created_at=obj.created_at,
                updated_at=obj.updated_at,
            )
        )

    def update_object(self, namespace_id: int, name: str, obj: MetadefObject) -> None:
        self.conn.execute(
            update(objects)
            .where(objects.c.namespace_id == namespace_id, objects.c.name == name)
            .values(
                name=obj.name,
                description=obj.description,
                required=_dump(obj.required) if obj.required is not None else None,
                json_schema=_dump(obj.properties),
                updated_at=obj.updated_at,
            )
        )

    def delete_object(self, namespace_id: int, name: str) -> bool:
        result = self.conn.execute(
            delete(objects).where(objects.c.namespace_id == namespace_id, objects.c.name == name)
        )
        return result.rowcount > 0

    def delete_objects(self, namespace_id: int) -> None:
        self.conn.execute(delete(objects).where(objects.c.namespace_id == namespace_id))

    # ---------------------------------------------------------------------- tags

    def tags(self, namespace_id: int) -> list[Tag]:
        rows = self.conn.execute(
            select(tags.c.name, tags.c.created_at, tags.c.updated_at)
            .where(tags.c.namespace_id == namespace_id)
            .order_by(tags.c.created_at.desc(), tags.c.id.desc())
        )
        return [Tag(row.name, row.created_at, row.updated_at) for row in rows]

    def get_tag(self, namespace_id: int, name: str) -> Tag | None:
        row = self.conn.execute(
            select(tags.c.name, tags.c.created_at, tags.c.updated_at).where(
                tags.c.namespace_id == namespace_id, tags.c.name == name
            )
        ).first()
        return Tag(row.name, row.created_at, row.updated_at) if row is not None else None

    def add_tags(self, namespace_id: int, names: list[str], now: datetime) -> None:
        if names:
            self.conn.execute(
                insert(tags),
                [
                    {"namespace_id": namespace_id, "name": n, "created_at": now, "updated_at": now}
                    for n in names
                ],
            )

    def rename_tag(self, namespace_id: int, name: str, new_name: str, now: datetime) -> None:
        self.conn.execute(
            update(tags)
            .where(tags.c.namespace_id == namespace_id, tags.c.name == name)
            .values(name=new_name, updated_at=now)
        )

    def delete_tag(self, namespace_id: int, name: str) -> bool:
        result = self.conn.execute(
            delete(tags).where(tags.c.namespace_id == namespace_id, tags.c.name == name)
        )
        return result.rowcount > 0

    def delete_tags(self, namespace_id: int) -> None:
        self.conn.execute(delete(tags).where(tags.c.namespace_id == namespace_id))

    # ------------------------------------------------------------ resource types

    def resource_types(self) -> list[ResourceType]:
        rows = self.conn.execute(select(resource_types).order_by(resource_types.c.id))
        return [ResourceType(r.name, r.protected, r.created_at, r.updated_at) for r in rows]

    def resource_type_id(self, name: str, now: datetime, *, create: bool) -> int | None:
        """The id of the resource type ``name``, created (unprotected) if asked."""
        found = self.conn.execute(
            select(resource_types.c.id).where(resource_types.c.name == name)
        ).scalar()
        if found is not None or not create:
            return found
        result = self.conn.execute(
            insert(resource_types).values(
                name=name, protected=False, created_at=now, updated_at=now
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def add_resource_type(self, rt: ResourceType) -> None:
        self.conn.execute(
            insert(resource_types).values(
                name=rt.name,
                protected=rt.protected,
                created_at=rt.created_at,
                updated_at=rt.updated_at,
            )
        )

    def delete_resource_type(self, name: str) -> None:
        self.conn.execute(delete(resource_types).where(resource_types.c.name == name))

    def associations(self, namespace_ids: list[int]) -> dict[int, list[Association]]:
        """Each namespace's resource type associations, for a whole page at once."""
        found: dict[int, list[Association]] = defaultdict(list)
        if not namespace_ids:
            return found
        rows = self.conn.execute(
            select(
                ns_types.c.namespace_id,
                resource_types.c.name,
                ns_types.c.prefix,
                ns_types.c.properties_target,
                ns_types.c.created_at,
                ns_types.c.updated_at,
            )
            .join(resource_types, resource_types.c.id == ns_types.c.resource_type_id)
            .where(ns_types.c.namespace_id.in_(namespace_ids))
            .order_by(ns_types.c.created_at, resource_types.c.id)
        )
        for r in rows:
            found[r.namespace_id].append(
                Association(r.name, r.prefix, r.properties_target, r.created_at, r.updated_at)
            )
        return found

    def add_association(self, namespace_id: int, association: Association, now: datetime) -> None:
        type_id = self.resource_type_id(association.name, now, create=True)
        self.conn.execute(
            insert(ns_types).values(
                resource_type_id=type_id,
                namespace_id=namespace_id,
                prefix=association.prefix,
                properties_target=association.properties_target,
                created_at=now,
                updated_at=now,
            )
        )

    def delete_association(self, namespace_id: int, name: str) -> bool:
        type_id = self.conn.execute(
            select(resource_types.c.id).where(resource_types.c.name == name)
        ).scalar()
        if type_id is None:
            return False
        result = self.conn.execute(
            delete(ns_types).where(
                ns_types.c.namespace_id == namespace_id, ns_types.c.resource_type_id == type_id
            )
        )
        return result.rowcount > 0
