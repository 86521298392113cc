"""``GET /v2/images/{id}`` and ``DELETE /v2/images/{id}``."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.records import (
    OCTETS,
    V21,
    Records,
    admin,
    caller,
    create_image,
    list_ids,
    make_active,
    patch_image,
    show_image,
)

ABSENT = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "image_id", [ABSENT, "abc", "a" * 40, f"{uuid.uuid4()}x"], ids=["absent", "short", "long", "x"]
)
async def test_show_unknown_is_404(client: httpx.AsyncClient, image_id: str) -> None:
    response = await client.get(f"/v2/images/{image_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "404 Not Found"


async def test_show_answers_the_stored_view(client: httpx.AsyncClient) -> None:
    created = await create_image(client, name="n", os_distro="cirros", min_ram=64)
    assert await show_image(client, created["id"]) == created


async def test_show_takes_no_body(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    response = await client.request("GET", f"/v2/images/{image['id']}", content=b"{}")
    assert response.status_code == 400


async def test_show_of_deleted_is_404(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}")).status_code == 404


async def test_pending_delete_is_404_and_killed_is_shown(
    client: httpx.AsyncClient, records: Records
) -> None:
    # what a delayed delete leaves: a soft-deleted row in pending_delete
    pending = records.add_image(status="active", name="pending")
    records.update_image(pending.id, status="pending_delete", deleted=True)
    killed = records.add_image(status="killed", name="killed")
    assert (await client.get(f"/v2/images/{pending.id}")).status_code == 404
    assert (await show_image(client, killed.id))["status"] == "killed"
    # killed images are shown but never listed
    assert await list_ids(client) == []


async def test_show_of_an_invisible_image_is_404(
    client: httpx.AsyncClient, records: Records
) -> None:
    private = records.add_image(owner="p2", visibility="private")
    assert (await client.get(f"/v2/images/{private.id}", headers=caller("p1"))).status_code == 404
    assert (await client.get(f"/v2/images/{private.id}", headers=caller("p2"))).status_code == 200


async def test_delete_then_gone_everywhere(client: httpx.AsyncClient) -> None:
    image = await create_image(client, name="doomed", tags=["t"])
    image_id = image["id"]
    response = await client.delete(f"/v2/images/{image_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.delete(f"/v2/images/{image_id}")).status_code == 404
    assert await list_ids(client, "visibility=all") == []
    gone = [
        await client.get(f"/v2/images/{image_id}"),
        await patch_image(client, image_id, []),
        await client.put(f"/v2/images/{image_id}/tags/x"),
        await client.delete(f"/v2/images/{image_id}/tags/t"),
        await client.post(f"/v2/images/{image_id}/actions/deactivate"),
        await client.post(f"/v2/images/{image_id}/actions/reactivate"),
        await client.put(f"/v2/images/{image_id}/file", content=b"x", headers=OCTETS),
        await client.get(f"/v2/images/{image_id}/file"),
    ]
    assert [response.status_code for response in gone] == [404] * len(gone)


async def test_delete_of_an_active_image_removes_its_data(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    await make_active(client, image["id"])
    assert (await client.get(f"/v2/images/{image['id']}/file")).status_code == 200
    assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}/file")).status_code == 404


async def test_deleted_id_is_never_reused(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    await client.delete(f"/v2/images/{image['id']}")
    assert (await client.post("/v2/images", json={"id": image["id"]})).status_code == 409


async def test_delete_takes_no_body(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    response = await client.request("DELETE", f"/v2/images/{image['id']}", content=b"{}")
    assert response.status_code == 400
    await show_image(client, image["id"])


@pytest.mark.parametrize("active", [False, True], ids=["queued", "active"])
async def test_protected_image_cannot_be_deleted(client: httpx.AsyncClient, active: bool) -> None:
    image = await create_image(client, protected=True)
    if active:
        await make_active(client, image["id"])
    response = await client.delete(f"/v2/images/{image['id']}")
    assert response.status_code == 403
    assert "protected" in response.json()["message"]
    await show_image(client, image["id"])
    ops = [{"op": "replace", "path": "/protected", "value": False}]
    assert (await patch_image(client, image["id"], ops)).status_code == 200
    assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204


@pytest.mark.parametrize(
    ("owner", "visibility", "headers", "status"),
    [
        ("p1", "private", caller("p1"), 204),
        ("p2", "public", caller("p1"), 403),  # visible, not owned
        ("p2", "private", caller("p1"), 404),  # not visible
        ("p2", "private", admin(), 204),
        ("p2", "private", {}, 204),  # noauth is admin
        (None, "shared", caller("p1"), 403),  # owner-less images are visible to all
    ],
    ids=["owner", "public-other", "private-other", "admin", "noauth", "ownerless"],
)
async def test_who_may_delete(
    client: httpx.AsyncClient,
    records: Records,
    owner: str | None,
    visibility: str,
    headers: dict[str, str],
    status: int,
) -> None:
    image = records.add_image(owner=owner, visibility=visibility)
    response = await client.delete(f"/v2/images/{image.id}", headers=headers)
    assert response.status_code == status
    still_there = (await client.get(f"/v2/images/{image.id}")).status_code == 200
    assert still_there == (status != 204)


async def test_patch_content_type_is_irrelevant_to_delete(client: httpx.AsyncClient) -> None:
    # a stray Content-Type with no body is not a body
    image = await create_image(client)
    response = await client.delete(f"/v2/images/{image['id']}", headers={"Content-Type": V21})
    assert response.status_code == 204
