"""Notification payloads in Glance's shapes: image records without locations (plus
``properties``, ``tags``, ``is_public``, ``deleted``, ``deleted_at``), members,
``image.send``'s record of a download, tasks (never their input, which may hold
credentials) and the metadata definitions catalog's namespaces, properties, objects, tags
and resource-type associations (``namespace_old``/``name_old`` the name before an update).

Tasks and metadefs live above this package; their records are taken for what they show
(the protocols below), so every payload is shaped here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from glimpse.clock import utcnow
from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Member

# what Glance adds to the payloads of image.prepare and image.upload: its import
# bookkeeping properties as lists; consumers written for Glance may look for them
_UPLOAD_EXTRAS = ("os_glance_failed_import", "os_glance_importing_to_stores")


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def image_payload(
    image: Image,
    *,
    deleted_at: datetime | None = None,
    upload: bool = False,
    backend: str | None = None,
) -> dict[str, Any]:
    """``backend``: the store an import writes into (Glance names it with several stores)."""
    payload: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "created_at": _time(image.created_at),
        "updated_at": _time(image.updated_at),
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "protected": image.protected,
        "checksum": image.checksum,
        "owner": image.owner,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "is_public": image.visibility == "public",
        "visibility": image.visibility,
        "properties": dict(image.properties),
        "tags": list(image.tags),
        "deleted": deleted_at is not None,
        "deleted_at": _time(deleted_at),
    }
    if upload:
        for name in _UPLOAD_EXTRAS:
            payload[name] = [s for s in (image.properties.get(name) or "").split(",") if s]
    if backend is not None:
        payload["backend"] = backend
    return payload


def upload_failure(image_id: str, reason: str) -> str:
    """Glance's payload of an ``image.upload`` at ERROR priority: a sentence, not a record."""
    return f"Failed to upload image data for image {image_id} due to internal error: {reason}"


def member_payload(member: Member, *, deleted_at: datetime | None = None) -> dict[str, Any]:
    return {
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status,
        "created_at": _time(member.created_at),
        "updated_at": _time(member.updated_at),
        "deleted": deleted_at is not None,
        "deleted_at": _time(deleted_at),
    }


def send_payload(image: Image, context: RequestContext, bytes_sent: int) -> dict[str, Any]:
    return {
        "image_id": image.id,
        "owner_id": image.owner,
        "receiver_tenant_id": context.project_id,
        "receiver_user_id": context.user_id,
        "bytes_sent": bytes_sent,
    }


# --------------------------------------------------------------------------- tasks


class TaskRecord(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


def task_payload(task: TaskRecord, *, status: str | None = None) -> dict[str, Any]:
    """As Glance: no input, ``result`` and ``message`` always null, and an expiry not set
    yet given as the current time (Glance formats the missing time as now)."""
    return {
        "id": task.id,
        "type": task.type,
        "status": status or task.status,
        "result": None,
        "owner": task.owner,
        "message": None,
        "expires_at": _time(task.expires_at or utcnow()),
        "created_at": _time(task.created_at),
        "updated_at": _time(task.updated_at),
        "deleted": False,
        "deleted_at": None,
    }


# ------------------------------------------------------------------------- metadefs


class NamespaceRecord(Protocol):
    @property
    def namespace(self) -> str: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def visibility(self) -> str: ...
    @property
    def protected(self) -> bool: ...
    @property
    def owner(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime | None: ...


class ObjectRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str | None: ...
    @property
    def required(self) -> list[str] | None: ...
    @property
    def properties(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime | None: ...


class TagRecord(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def updated_at(self) -> datetime | None: ...


class AssociationRecord(TagRecord, Protocol):
    @property
    def prefix(self) -> str | None: ...
    @property
    def properties_target(self) -> str | None: ...


# the JSON-schema keywords of a property definition a payload carries (null when absent)
_DEFINITION_KEYS = (
    "type", "title", "description", "default", "minimum", "maximum", "enum", "pattern",
    "minLength", "maxLength", "confidential", "items", "uniqueItems", "minItems", "maxItems",
    "additionalItems",
)  # fmt: skip


def _deleted(deleted_at: datetime | None) -> dict[str, Any]:
    return {"deleted": deleted_at is not None, "deleted_at": _time(deleted_at)}


def namespace_payload(
    ns: NamespaceRecord, *, old_name: str | None = None, deleted_at: datetime | None = None
) -> dict[str, Any]:
    return {
        "namespace": ns.namespace,
        "namespace_old": old_name or ns.namespace,
        "display_name": ns.display_name,
        "protected": ns.protected,
        "visibility": ns.visibility,
        "owner": ns.owner,
        "description": ns.description,
        "created_at": _time(ns.created_at),
        "updated_at": _time(ns.updated_at),
        **_deleted(deleted_at),
    }


def property_payload(
    namespace: str, name: str, definition: Mapping[str, Any], *,
    old_name: str | None = None, deleted_at: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "namespace": namespace,
        "name": name,
        "name_old": old_name or name,
        **{key: definition.get(key) for key in _DEFINITION_KEYS},
        **_deleted(deleted_at),
    }


def object_payload(
    namespace: str, obj: ObjectRecord, *,
    old_name: str | None = None, deleted_at: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    # as Glance: each property of the object by name, a keyword whose value is falsy
    # (0, false, "") given as null
    properties = [
        {"name": name, **{key: definition.get(key) or None for key in _DEFINITION_KEYS}}
        for name, definition in obj.properties.items()
    ]
    return {
        "namespace": namespace,
        "name": obj.name,
        "name_old": old_name or obj.name,
        "properties": properties,
        "required": obj.required,
        "description": obj.description,
        "created_at": _time(obj.created_at),
        "updated_at": _time(obj.updated_at),
        **_deleted(deleted_at),
    }


def tag_payload(
    namespace: str, tag: TagRecord, *,
    old_name: str | None = None, deleted_at: datetime | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "namespace": namespace,
        "name": tag.name,
        "name_old": old_name or tag.name,
        "created_at": _time(tag.created_at),
        "updated_at": _time(tag.updated_at),
        **_deleted(deleted_at),
    }


def resource_type_payload(
    namespace: str, association: AssociationRecord, *, deleted_at: datetime | None = None
) -> dict[str, Any]:
    """A namespace's association with a resource type (Glance's ``metadef_resource_type``
    events are about these)."""
    return {
        "namespace": namespace,
        "name": association.name,
        "name_old": association.name,
        "prefix": association.prefix,
        "properties_target": association.properties_target,
        "created_at": _time(association.created_at),
        "updated_at": _time(association.updated_at),
        **_deleted(deleted_at),
    }
