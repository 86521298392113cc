"""Notification payloads in Glance's shapes: image records without locations (plus
``properties``, ``tags``, ``is_public``, ``deleted``, ``deleted_at``), members, and
``image.send``'s record of a download."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from glimpse.model.context import RequestContext
from glimpse.model.images import Image, Member

# what Glance adds to the payloads of image.prepare and image.upload (its import
# bookkeeping); consumers written for Glance may look for them
_UPLOAD_EXTRAS: dict[str, list[str]] = {
    "os_glance_failed_import": [],
    "os_glance_importing_to_stores": [],
}


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def image_payload(
    image: Image, *, deleted_at: datetime | None = None, upload: bool = False
) -> dict[str, Any]:
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
        payload.update({k: list(v) for k, v in _UPLOAD_EXTRAS.items()})
    return payload


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
