"""Images and members rendered as Glance renders them (same keys, same order)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from glimpse.model.images import Image, Location, Member


def timestamp(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (stored values are naive UTC; isoformat beats strftime)."""
    return value.isoformat(timespec="seconds") + "Z"


def image_view(
    image: Image,
    schema_properties: Collection[str] = (),
    direct_url: str | None = None,
    locations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``schema_properties``: names the image schema defines; a null value of one of them
    (``kernel_id``) stays null, any other null property is rendered as "" (Glance's
    schema filter). ``direct_url`` and ``locations``: shown where Glance shows them,
    when given."""
    # extra properties first, then the base attributes, as Glance emits them
    view: dict[str, Any] = {
        name: ("" if value is None and name not in schema_properties else value)
        for name, value in image.properties.items()
    }
    view.update(
        name=image.name,
        disk_format=image.disk_format,
        container_format=image.container_format,
        visibility=image.visibility,
        size=image.size,
        virtual_size=image.virtual_size,
        status=image.status,
        checksum=image.checksum,
        protected=image.protected,
        min_ram=image.min_ram,
        min_disk=image.min_disk,
        owner=image.owner,
        os_hidden=image.os_hidden,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        id=image.id,
        created_at=timestamp(image.created_at),
        updated_at=timestamp(image.updated_at),
    )
    if locations is not None:
        view["locations"] = locations
    if direct_url is not None:
        view["direct_url"] = direct_url
    view.update(
        tags=list(image.tags),
        self=f"/v2/images/{image.id}",
        file=f"/v2/images/{image.id}/file",
        schema="/v2/schemas/image",
    )
    return view


def location_views(locations: list[Location], multi_store: bool) -> list[dict[str, Any]]:
    """Locations as Glance shows them: with several stores each names its store in its
    metadata."""
    return [
        {
            "url": location.url,
            "metadata": {**location.metadata, "store": location.store}
            if multi_store and location.store
            else location.metadata,
        }
        for location in locations
    ]


def member_view(member: Member) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status,
        "created_at": timestamp(member.created_at),
        "updated_at": timestamp(member.updated_at),
        "schema": "/v2/schemas/member",
    }
