"""Helpers for the image-record API tests: callers, create/patch/list shortcuts, and
direct database access for what the API cannot set up (members, old timestamps, many
images with equal sort keys)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, update

from glimpse.clock import utcnow
from glimpse.db.tables import image_members, image_properties, image_tags, images
from glimpse.images.member_repository import MemberRepository
from glimpse.model.images import Image, Member

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"
OCTETS = {"Content-Type": "application/octet-stream"}

# the keys of an image view, in the order Glance emits them (no extra properties)
VIEW_KEYS = [
    "name", "disk_format", "container_format", "visibility", "size", "virtual_size",
    "status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
    "os_hash_algo", "os_hash_value", "id", "created_at", "updated_at", "tags", "self",
    "file", "schema",
]  # fmt: skip


def caller(project: str, *roles: str) -> dict[str, str]:
    """Identity headers of an ordinary caller of ``project`` (noauth mode)."""
    return {"X-Project-Id": project, "X-Roles": ",".join(roles or ("member", "reader"))}


def admin(project: str = "admin-project") -> dict[str, str]:
    return caller(project, "admin", "member", "reader")


async def create_image(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = await client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


async def patch_image(
    client: httpx.AsyncClient,
    image_id: str,
    ops: Any,
    *,
    media_type: str = V21,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.patch(
        f"/v2/images/{image_id}", json=ops, headers={"Content-Type": media_type, **(headers or {})}
    )


async def show_image(
    client: httpx.AsyncClient, image_id: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(f"/v2/images/{image_id}", headers=headers)
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


async def make_active(
    client: httpx.AsyncClient, image_id: str, data: bytes = b"glimpse image data"
) -> None:
    """Give a queued image formats (if it has none) and data, so that it turns active."""
    image = await show_image(client, image_id)
    ops = [
        {"op": "replace", "path": f"/{name}", "value": value}
        for name, value in (("disk_format", "raw"), ("container_format", "bare"))
        if image[name] is None
    ]
    if ops:
        assert (await patch_image(client, image_id, ops)).status_code == 200
    response = await client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
    assert response.status_code == 204, response.text


async def list_images(
    client: httpx.AsyncClient, query: str = "", headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    response = await client.get(f"/v2/images?{query}", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["images"]
    return found


async def list_ids(
    client: httpx.AsyncClient, query: str = "", headers: dict[str, str] | None = None
) -> list[str]:
    return [image["id"] for image in await list_images(client, query, headers)]


async def walk_pages(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None
) -> list[str]:
    """Every id, page after page of ``query``, each page asked with the last id seen as
    ``marker``. (Not by following ``next``: like Glance's, it keeps only the last of
    repeated parameters, so it loses all but one of several ``sort_key``s.)"""
    ids: list[str] = []
    url = f"/v2/images?{query}"
    while True:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        ids.extend(image["id"] for image in page["images"])
        if "next" not in page:
            return ids
        assert page["next"].endswith(f"marker={ids[-1]}")
        url = f"/v2/images?{query}&marker={ids[-1]}"
        assert len(ids) < 10_000, "pagination does not end"


class Records:
    """Writes rows straight into the test database (the tables the app uses), for
    states the API cannot make: members, other owners, old timestamps, odd statuses."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def add_image(self, **fields: Any) -> Image:
        fields.setdefault("id", str(uuid.uuid4()))
        fields.setdefault("created_at", utcnow())
        fields.setdefault("updated_at", fields["created_at"])
        image = Image(**fields)
        with self.engine.begin() as conn:
            conn.execute(insert(images).values(**image.base_values(), deleted=False))
            for name, value in image.properties.items():
                conn.execute(
                    insert(image_properties).values(image_id=image.id, name=name, value=value)
                )
            for tag in image.tags:
                conn.execute(
                    insert(image_tags).values(
                        image_id=image.id,
                        value=tag,
                        created_at=image.created_at,
                        visibility=image.visibility,
                        owner=image.owner,
                    )
                )
        return image

    def add_member(self, image_id: str, project: str, status: str = "accepted") -> None:
        with self.engine.begin() as conn:
            MemberRepository(conn).add_member(Member(image_id, project, status))

    def set_member_status(self, image_id: str, project: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(image_members)
                .where(image_members.c.image_id == image_id, image_members.c.member == project)
                .values(status=status, updated_at=utcnow())
            )

    def set_member_times(self, image_id: str, project: str, when: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(image_members)
                .where(image_members.c.image_id == image_id, image_members.c.member == project)
                .values(created_at=when, updated_at=when)
            )

    def update_image(self, image_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(images).where(images.c.id == image_id).values(**values))
            # the copies in its tag rows, as the repository keeps them
            copied = {k: v for k, v in values.items() if k in ("visibility", "owner")}
            if copied:
                conn.execute(
                    update(image_tags).where(image_tags.c.image_id == image_id).values(**copied)
                )
