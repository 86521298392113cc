"""What the metadefs API does, in Glance's order of checks: the namespace must be visible
to the caller (else 404, whatever the action), then the action's rule (else 403), then a
protected namespace refuses deletions inside it (403), then names must be free (409).

Each change is notified as Glance notifies it (``metadef_namespace.*``,
``metadef_property.*``, ``metadef_object.*``, ``metadef_tag.*``,
``metadef_resource_type.*``) once its unit of work has committed; what a deletion
removed is read in that unit of work, before it goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from glimpse.auth.policy import Policy
from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, InvalidInput, NotFound, NotPermitted
from glimpse.metadefs.model import (
    Association,
    Definition,
    MetadefObject,
    Namespace,
    NamespaceContents,
    NamespaceQuery,
    ResourceType,
    Tag,
)
from glimpse.metadefs.repository import MetadefRepository
from glimpse.model.context import RequestContext
from glimpse.notifications.notifier import Notifier
from glimpse.notifications.payloads import (
    namespace_payload,
    object_payload,
    property_payload,
    resource_type_payload,
    tag_payload,
)

T = TypeVar("T")
# a notification: event type and payload, sent once the change has committed
Event = tuple[str, dict[str, Any]]

SORT_KEYS = frozenset({"created_at", "updated_at", "namespace", "display_name", "id"})


def target(ns: Namespace) -> dict[str, Any]:
    """What oslo.policy rules see of a namespace."""
    return {"project_id": ns.owner, "visibility": ns.visibility}


def _taken(kind: str, name: str, ns_name: str) -> str:
    """Glance's words for a property or object name already used in a namespace."""
    return f"A metadata definition {kind} with name={name} already exists in namespace={ns_name}."


def _protected(kind: str, name: str) -> NotPermitted:
    return NotPermitted(f"Metadata definition {kind} {name} is protected and cannot be deleted.")


def split_definition(body: dict[str, Any]) -> tuple[str, Definition]:
    """A property body as (name, the definition without its name)."""
    definition = {k: v for k, v in body.items() if k != "name"}
    return body["name"], definition


def with_prefix(prefix: str | None, definitions: dict[str, Definition]) -> dict[str, Definition]:
    if not prefix:
        return definitions
    return {prefix + name: d for name, d in definitions.items()}


@dataclass(slots=True)
class NamespaceView:
    namespace: Namespace
    contents: NamespaceContents


class MetadefService:
    def __init__(self, db: Database, policy: Policy, notifier: Notifier) -> None:
        self.units = UnitsOfWork(db, MetadefRepository)
        self.policy = policy
        self.notifier = notifier
        self._wants = notifier.wants
        self._send = notifier.send

    def _emit(self, events: list[Event]) -> None:
        for event_type, payload in events:
            self.notifier.emit(event_type, payload)

    # ------------------------------------------------------------------ helpers

    def _visible(
        self, repo: MetadefRepository, context: RequestContext, name: str, missing: str
    ) -> Namespace:
        ns = repo.get_namespace(name)
        if ns is None or not (
            context.is_admin or ns.visibility == "public" or ns.owner == context.project_id
        ):
            raise NotFound(missing)
        if not self.policy.allows("get_metadef_namespace", context, target(ns)):
            raise NotFound(missing)
        return ns

    def _subject(
        self, repo: MetadefRepository, context: RequestContext, name: str, rule: str,
        missing: str | None = None,
    ) -> Namespace:  # fmt: skip
        """The namespace an action inside it is about, once the caller may do it."""
        ns = self._visible(repo, context, name, missing or f"Namespace {name} not found")
        self.policy.require(rule, context, target(ns))
        return ns

    @staticmethod
    async def _unique(conflict: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt``, with a name another writer took first answered as Glance's 409."""
        try:
            return await attempt()
        except IntegrityError:
            raise Conflict(conflict) from None

    # --------------------------------------------------------------- namespaces

    async def list_namespaces(
        self, context: RequestContext, query: NamespaceQuery
    ) -> list[tuple[Namespace, list[Association]]]:
        self.policy.require(
            "get_metadef_namespaces",
            context,
            {"project_id": context.project_id, "visibility": None},
        )

        def work(repo: MetadefRepository) -> list[tuple[Namespace, list[Association]]]:
            if query.marker is not None:
                self._visible(
                    repo, context, query.marker,
                    f"Metadata definition namespace={query.marker} was not found.",
                )  # fmt: skip
            page = repo.list_namespaces(query, context.viewer)
            page = [
                ns
                for ns in page
                if self.policy.allows("get_metadef_namespace", context, target(ns))
            ]
            found = repo.associations([ns.id for ns in page if ns.id is not None])
            return [(ns, found.get(ns.id or 0, [])) for ns in page]

        return await self.units.read(work)

    async def get_namespace(
        self, context: RequestContext, name: str, resource_type: str | None = None
    ) -> NamespaceView:
        def work(repo: MetadefRepository) -> NamespaceView:
            ns = self._visible(
                repo, context, name, f"Metadata definition namespace={name} was not found."
            )
            assert ns.id is not None
            associations = repo.associations([ns.id]).get(ns.id, [])
            prefix = next(
                (a.prefix for a in associations if a.name == resource_type), None
            ) if resource_type else None  # fmt: skip
            objects = repo.objects(ns.id)
            for obj in objects:
                obj.properties = with_prefix(prefix, obj.properties)
            contents = NamespaceContents(
                properties=with_prefix(prefix, repo.properties(ns.id)),
                objects=objects,
                tags=repo.tags(ns.id),
                associations=associations,
            )
            return NamespaceView(ns, contents)

        return await self.units.read(work)

    async def create_namespace(
        self, context: RequestContext, ns: Namespace, contents: NamespaceContents
    ) -> NamespaceView:
        self.policy.require("add_metadef_namespace", context, target(ns))
        now = utcnow()
        ns.created_at = ns.updated_at = now

        def work(repo: MetadefRepository) -> NamespaceView:
            if repo.get_namespace(ns.namespace) is not None:
                raise Conflict(f"The metadata definition namespace={ns.namespace} already exists.")
            ns.id = repo.add_namespace(ns)
            self._fill(repo, ns.id, contents, now)
            return NamespaceView(ns, contents)

        view = await self._unique(
            f"The metadata definition namespace={ns.namespace} already exists.",
            lambda: self.units.write(work),
        )
        self._emit(self._created(ns, contents))
        return view

    @staticmethod
    def _fill(
        repo: MetadefRepository, namespace_id: int, contents: NamespaceContents, now: Any
    ) -> None:
        for name, definition in contents.properties.items():
            repo.add_property(namespace_id, name, definition, now)
        for obj in contents.objects:
            obj.created_at = obj.updated_at = now
            repo.add_object(namespace_id, obj)
        for tag in contents.tags:
            tag.created_at = tag.updated_at = now
        repo.add_tags(namespace_id, [t.name for t in contents.tags], now)
        for association in contents.associations:
            association.created_at = association.updated_at = now
            repo.add_association(namespace_id, association, now)

    def _created(self, ns: Namespace, contents: NamespaceContents) -> list[Event]:
        """A new namespace's events: its own, then (Glance's order) one for each resource
        type, object, tag and property created with it."""
        name, events = ns.namespace, []
        if self._wants("metadef_namespace.create"):
            events.append(("metadef_namespace.create", namespace_payload(ns)))
        if self._wants("metadef_resource_type.create"):
            events += [("metadef_resource_type.create", resource_type_payload(name, a))
                       for a in contents.associations]  # fmt: skip
        if self._wants("metadef_object.create"):
            events += [("metadef_object.create", object_payload(name, o)) for o in contents.objects]
        if self._wants("metadef_tag.create"):
            events += [("metadef_tag.create", tag_payload(name, t)) for t in contents.tags]
        if self._wants("metadef_property.create"):
            events += [("metadef_property.create", property_payload(name, p, d))
                       for p, d in contents.properties.items()]  # fmt: skip
        return events

    async def update_namespace(
        self, context: RequestContext, name: str, changes: dict[str, Any]
    ) -> Namespace:
        def work(repo: MetadefRepository) -> Namespace:
            ns = self._subject(repo, context, name, "modify_metadef_namespace")
            new_name = changes["namespace"]
            if new_name != name and repo.get_namespace(new_name) is not None:
                raise Conflict(f"The metadata definition namespace={new_name} already exists.")
            ns.namespace = new_name
            # as Glance: the text fields are replaced (absent means none), the rest kept
            ns.display_name = changes.get("display_name")
            ns.description = changes.get("description")
            ns.visibility = changes.get("visibility", ns.visibility)
            ns.protected = changes.get("protected", ns.protected)
            ns.owner = changes.get("owner", ns.owner)
            ns.updated_at = utcnow()
            repo.update_namespace(ns)
            return ns

        updated = await self._unique(
            f"The metadata definition namespace={changes['namespace']} already exists.",
            lambda: self.units.write(work),
        )
        self._send("metadef_namespace.update",
                   lambda: namespace_payload(updated, old_name=name))  # fmt: skip
        return updated

    async def delete_namespace(self, context: RequestContext, name: str) -> None:
        def work(repo: MetadefRepository) -> Namespace:
            ns = self._subject(repo, context, name, "delete_metadef_namespace")
            if ns.protected:
                raise _protected("namespace", name)
            assert ns.id is not None
            repo.delete_namespace(ns.id)
            return ns

        gone = await self.units.write(work)
        now = utcnow()
        self._send("metadef_namespace.delete", lambda: namespace_payload(gone, deleted_at=now))

    async def _delete_one(
        self, context: RequestContext, ns_name: str, rule: str, kind: str, name: str,
        delete: Callable[[MetadefRepository, int, str], bool], missing: NotFound,
        namespace_missing: str | None = None, *,
        event: str, payload: Callable[[MetadefRepository, Namespace, datetime], Any],
    ) -> None:  # fmt: skip
        """Delete one thing by name inside a namespace: not in a protected one (403),
        and 404 when it is not there. ``payload``: the ``event``'s, of the thing before
        it goes (None when it is not there)."""
        wanted = self._wants(event)

        def work(repo: MetadefRepository) -> dict[str, Any] | None:
            ns = self._subject(repo, context, ns_name, rule, namespace_missing)
            if ns.protected:
                raise _protected(kind, name)
            assert ns.id is not None
            before = payload(repo, ns, utcnow()) if wanted else None
            if not delete(repo, ns.id, name):
                raise missing
            return before

        before = await self.units.write(work)
        if before is not None:
            self._emit([(event, before)])

    async def _delete_all(
        self, context: RequestContext, name: str, rule: str,
        delete: Callable[[MetadefRepository, int], None], event: str,
    ) -> None:  # fmt: skip
        def work(repo: MetadefRepository) -> Namespace:
            ns = self._subject(repo, context, name, rule)
            if ns.protected:
                raise _protected("namespace", name)
            assert ns.id is not None
            delete(repo, ns.id)
            return ns

        ns = await self.units.write(work)
        self._send(event, lambda: namespace_payload(ns))

    # --------------------------------------------------------------- properties

    async def list_properties(self, context: RequestContext, ns_name: str) -> dict[str, Definition]:
        def work(repo: MetadefRepository) -> dict[str, Definition]:
            ns = self._subject(repo, context, ns_name, "get_metadef_properties")
            assert ns.id is not None
            return repo.properties(ns.id)

        return await self.units.read(work)

    async def get_property(
        self, context: RequestContext, ns_name: str, name: str, resource_type: str | None = None
    ) -> Definition:
        def work(repo: MetadefRepository) -> Definition:
            ns = self._subject(repo, context, ns_name, "get_metadef_property")
            assert ns.id is not None
            wanted = name
            if resource_type:
                for association in repo.associations([ns.id]).get(ns.id, []):
                    prefix = association.prefix
                    if association.name == resource_type and prefix and name.startswith(prefix):
                        wanted = name[len(prefix) :]
            found = repo.get_property(ns.id, wanted)
            if found is None:
                raise NotFound(f"Could not find property {name}")
            return {"name": wanted, **found}

        return await self.units.read(work)

    async def add_property(
        self, context: RequestContext, ns_name: str, name: str, definition: Definition
    ) -> Definition:
        conflict = _taken("property", name, ns_name)

        def work(repo: MetadefRepository) -> Definition:
            ns = self._subject(repo, context, ns_name, "add_metadef_property")
            assert ns.id is not None
            if repo.get_property(ns.id, name) is not None:
                raise Conflict(conflict)
            repo.add_property(ns.id, name, definition, utcnow())
            return {"name": name, **definition}

        added = await self._unique(conflict, lambda: self.units.write(work))
        self._send("metadef_property.create",
                   lambda: property_payload(ns_name, name, definition))  # fmt: skip
        return added

    async def update_property(
        self, context: RequestContext, ns_name: str, name: str, new_name: str,
        definition: Definition,
    ) -> Definition:  # fmt: skip
        conflict = _taken("property", new_name, ns_name)

        def work(repo: MetadefRepository) -> Definition:
            ns = self._subject(repo, context, ns_name, "modify_metadef_property")
            assert ns.id is not None
            if repo.get_property(ns.id, name) is None:
                raise NotFound(f"Could not find property {name}")
            if new_name != name and repo.get_property(ns.id, new_name) is not None:
                raise Conflict(conflict)
            repo.update_property(ns.id, name, new_name, definition, utcnow())
            return {"name": new_name, **definition}

        updated = await self._unique(conflict, lambda: self.units.write(work))
        self._send(
            "metadef_property.update",
            lambda: property_payload(ns_name, new_name, definition, old_name=name),
        )
        return updated

    async def delete_property(self, context: RequestContext, ns_name: str, name: str) -> None:
        await self._delete_one(
            context, ns_name, "remove_metadef_property", "property", name,
            MetadefRepository.delete_property, NotFound(f"Could not find property {name}"),
            event="metadef_property.delete", payload=_property_gone(name),
        )  # fmt: skip

    async def delete_properties(self, context: RequestContext, ns_name: str) -> None:
        await self._delete_all(
            context, ns_name, "remove_metadef_property", MetadefRepository.delete_properties,
            "metadef_namespace.delete_properties",
        )  # fmt: skip

    # ------------------------------------------------------------------ objects

    def _object_missing(self, name: str, ns_name: str) -> NotFound:
        return NotFound(
            f"The metadata definition object with name={name} was not found in namespace={ns_name}."
        )

    async def list_objects(self, context: RequestContext, ns_name: str) -> list[MetadefObject]:
        def work(repo: MetadefRepository) -> list[MetadefObject]:
            ns = self._subject(
                repo, context, ns_name, "get_metadef_objects",
                f"Metadata definition namespace={ns_name} was not found.",
            )  # fmt: skip
            assert ns.id is not None
            return repo.objects(ns.id)

        return await self.units.read(work)

    async def get_object(
        self, context: RequestContext, ns_name: str, name: str, resource_type: str | None = None
    ) -> MetadefObject:
        def work(repo: MetadefRepository) -> MetadefObject:
            ns = self._subject(
                repo, context, ns_name, "get_metadef_object",
                f"Metadata definition namespace={ns_name} was not found.",
            )  # fmt: skip
            assert ns.id is not None
            found = repo.get_object(ns.id, name)
            if found is None:
                raise self._object_missing(name, ns_name)
            if resource_type:
                for association in repo.associations([ns.id]).get(ns.id, []):
                    if association.name == resource_type:
                        found.properties = with_prefix(association.prefix, found.properties)
            return found

        return await self.units.read(work)

    async def add_object(
        self, context: RequestContext, ns_name: str, obj: MetadefObject
    ) -> MetadefObject:
        conflict = _taken("object", obj.name, ns_name)

        def work(repo: MetadefRepository) -> MetadefObject:
            ns = self._subject(
                repo, context, ns_name, "add_metadef_object",
                f"Metadata definition namespace={ns_name} was not found.",
            )  # fmt: skip
            assert ns.id is not None
            if repo.get_object(ns.id, obj.name) is not None:
                raise Conflict(conflict)
            obj.created_at = obj.updated_at = utcnow()
            repo.add_object(ns.id, obj)
            return obj

        added = await self._unique(conflict, lambda: self.units.write(work))
        self._send("metadef_object.create", lambda: object_payload(ns_name, added))
        return added

    async def update_object(
        self, context: RequestContext, ns_name: str, name: str, obj: MetadefObject
    ) -> MetadefObject:
        conflict = _taken("object", obj.name, ns_name)

        def work(repo: MetadefRepository) -> MetadefObject:
            ns = self._subject(
                repo, context, ns_name, "modify_metadef_object",
                f"Metadata definition namespace={ns_name} was not found.",
            )  # fmt: skip
            assert ns.id is not None
            old = repo.get_object(ns.id, name)
            if old is None:
                raise self._object_missing(name, ns_name)
            if obj.name != name and repo.get_object(ns.id, obj.name) is not None:
                raise Conflict(conflict)
            obj.created_at, obj.updated_at = old.created_at, utcnow()
            repo.update_object(ns.id, name, obj)
            return obj

        updated = await self._unique(conflict, lambda: self.units.write(work))
        self._send("metadef_object.update",
                   lambda: object_payload(ns_name, updated, old_name=name))  # fmt: skip
        return updated

    async def delete_object(self, context: RequestContext, ns_name: str, name: str) -> None:
        await self._delete_one(
            context, ns_name, "delete_metadef_object", "object", name,
            MetadefRepository.delete_object, self._object_missing(name, ns_name),
            f"Metadata definition namespace={ns_name} was not found.",
            event="metadef_object.delete", payload=_object_gone(name),
        )  # fmt: skip

    async def delete_objects(self, context: RequestContext, ns_name: str) -> None:
        await self._delete_all(
            context, ns_name, "delete_metadef_object", MetadefRepository.delete_objects,
            "metadef_namespace.delete_objects",
        )  # fmt: skip

    # --------------------------------------------------------------------- tags

    @staticmethod
    def _tag_conflict(name: str, ns_name: str) -> Conflict:
        return Conflict(
            f"A metadata tag with name={name} already exists in namespace={ns_name}. "
            "(Please note that metadata tag names are case insensitive)."
        )

    async def list_tags(self, context: RequestContext, ns_name: str) -> list[Tag]:
        def work(repo: MetadefRepository) -> list[Tag]:
            ns = self._subject(repo, context, ns_name, "get_metadef_tags")
            assert ns.id is not None
            return repo.tags(ns.id)

        return await self.units.read(work)

    async def get_tag(self, context: RequestContext, ns_name: str, name: str) -> Tag:
        def work(repo: MetadefRepository) -> Tag:
            ns = self._subject(repo, context, ns_name, "get_metadef_tag")
            assert ns.id is not None
            found = repo.get_tag(ns.id, name)
            if found is None:
                raise NotFound(f"Could not find metadata tag {name}")
            return found

        return await self.units.read(work)

    async def add_tag(self, context: RequestContext, ns_name: str, name: str) -> Tag:
        def work(repo: MetadefRepository) -> Tag:
            ns = self._subject(repo, context, ns_name, "add_metadef_tag")
            assert ns.id is not None
            if repo.get_tag(ns.id, name) is not None:
                raise self._tag_conflict(name, ns_name)
            now = utcnow()
            repo.add_tags(ns.id, [name], now)
            return Tag(name, now, now)

        added = await self._unique(
            str(self._tag_conflict(name, ns_name)), lambda: self.units.write(work)
        )
        self._send("metadef_tag.create", lambda: tag_payload(ns_name, added))
        return added

    async def add_tags(
        self, context: RequestContext, ns_name: str, names: list[str], *, append: bool
    ) -> list[str]:
        duplicate = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if duplicate is not None:
            raise self._tag_conflict(duplicate, ns_name)

        def work(repo: MetadefRepository) -> list[str]:
            ns = self._subject(repo, context, ns_name, "add_metadef_tags")
            assert ns.id is not None
            if append:
                taken = next((n for n in names if repo.get_tag(ns.id, n) is not None), None)
                if taken is not None:
                    raise self._tag_conflict(taken, ns_name)
            else:
                repo.delete_tags(ns.id)
            repo.add_tags(ns.id, names, now)
            return names

        now = utcnow()
        added = await self._unique(
            str(self._tag_conflict(",".join(names), ns_name)), lambda: self.units.write(work)
        )
        if self._wants("metadef_tag.create"):  # one for each tag, as Glance
            self._emit([("metadef_tag.create", tag_payload(ns_name, Tag(n, now, now)))
                        for n in added])  # fmt: skip
        return added

    async def rename_tag(
        self, context: RequestContext, ns_name: str, name: str, new_name: str
    ) -> Tag:
        def work(repo: MetadefRepository) -> Tag:
            ns = self._subject(repo, context, ns_name, "modify_metadef_tag")
            assert ns.id is not None
            old = repo.get_tag(ns.id, name)
            if old is None:
                raise NotFound(f"Could not find metadata tag {name}")
            if new_name != name and repo.get_tag(ns.id, new_name) is not None:
                raise self._tag_conflict(new_name, ns_name)
            now = utcnow()
            repo.rename_tag(ns.id, name, new_name, now)
            return Tag(new_name, old.created_at, now)

        renamed = await self._unique(
            str(self._tag_conflict(new_name, ns_name)), lambda: self.units.write(work)
        )
        self._send("metadef_tag.update", lambda: tag_payload(ns_name, renamed, old_name=name))
        return renamed

    async def delete_tag(self, context: RequestContext, ns_name: str, name: str) -> None:
        await self._delete_one(
            context, ns_name, "delete_metadef_tag", "tag", name,
            MetadefRepository.delete_tag, NotFound(f"Could not find metadata tag {name}"),
            event="metadef_tag.delete", payload=_tag_gone(name),
        )  # fmt: skip

    async def delete_tags(self, context: RequestContext, ns_name: str) -> None:
        await self._delete_all(
            context, ns_name, "delete_metadef_tags", MetadefRepository.delete_tags,
            "metadef_namespace.delete_tags",
        )  # fmt: skip

    # ----------------------------------------------------------- resource types

    async def list_resource_types(self, context: RequestContext) -> list[ResourceType]:
        self.policy.require(
            "list_metadef_resource_types",
            context,
            {"project_id": context.project_id, "visibility": None},
        )
        return await self.units.read(lambda repo: repo.resource_types())

    async def list_associations(self, context: RequestContext, ns_name: str) -> list[Association]:
        def work(repo: MetadefRepository) -> list[Association]:
            ns = self._subject(repo, context, ns_name, "get_metadef_resource_type")
            assert ns.id is not None
            return repo.associations([ns.id]).get(ns.id, [])

        return await self.units.read(work)

    async def add_association(
        self, context: RequestContext, ns_name: str, association: Association
    ) -> Association:
        conflict = (
            "The metadata definition resource-type association of "
            f"resource-type={association.name} to namespace={ns_name} already exists."
        )

        def work(repo: MetadefRepository) -> Association:
            ns = self._subject(repo, context, ns_name, "add_metadef_resource_type_association")
            assert ns.id is not None
            if any(a.name == association.name for a in repo.associations([ns.id]).get(ns.id, [])):
                raise Conflict(conflict)
            now = utcnow()
            repo.add_association(ns.id, association, now)
            association.created_at = association.updated_at = now
            return association

        added = await self._unique(conflict, lambda: self.units.write(work))
        self._send("metadef_resource_type.create",
                   lambda: resource_type_payload(ns_name, added))  # fmt: skip
        return added

    async def delete_association(self, context: RequestContext, ns_name: str, name: str) -> None:
        def work(repo: MetadefRepository) -> Association:
            ns = self._subject(repo, context, ns_name, "remove_metadef_resource_type_association")
            if ns.protected:
                raise _protected("resource-type-association", name)
            assert ns.id is not None
            found = next((a for a in repo.associations([ns.id]).get(ns.id, []) if a.name == name),
                         None)  # fmt: skip
            if found is None or not repo.delete_association(ns.id, name):
                raise NotFound(f"Failed to find resource type {name} to delete")
            return found

        gone = await self.units.write(work)
        now = utcnow()
        self._send("metadef_resource_type.delete",
                   lambda: resource_type_payload(ns_name, gone, deleted_at=now))  # fmt: skip


def _property_gone(name: str) -> Callable[[MetadefRepository, Namespace, datetime], Any]:
    def payload(repo: MetadefRepository, ns: Namespace, now: datetime) -> Any:
        assert ns.id is not None
        found = repo.get_property(ns.id, name)
        return None if found is None else property_payload(ns.namespace, name, found,
                                                           deleted_at=now)  # fmt: skip

    return payload


def _object_gone(name: str) -> Callable[[MetadefRepository, Namespace, datetime], Any]:
    def payload(repo: MetadefRepository, ns: Namespace, now: datetime) -> Any:
        assert ns.id is not None
        found = repo.get_object(ns.id, name)
        if found is None:
            return None
        found.required = found.required or []  # a stored object's, as Glance reads it back
        return object_payload(ns.namespace, found, deleted_at=now)

    return payload


def _tag_gone(name: str) -> Callable[[MetadefRepository, Namespace, datetime], Any]:
    def payload(repo: MetadefRepository, ns: Namespace, now: datetime) -> Any:
        assert ns.id is not None
        found = repo.get_tag(ns.id, name)
        return None if found is None else tag_payload(ns.namespace, found, deleted_at=now)

    return payload


def check_limit(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        raise InvalidInput("limit param must be an integer") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    return min(limit, maximum)
