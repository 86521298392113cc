"""``PUT|DELETE /v2/images/{id}/tags/{tag}`` and ``POST …/actions/deactivate|reactivate``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.records import (
    Records,
    admin,
    caller,
    create_image,
    make_active,
    show_image,
)

ABSENT = "00000000-0000-4000-8000-000000000000"


async def tags_of(client: httpx.AsyncClient, image_id: str) -> list[str]:
    return sorted((await show_image(client, image_id))["tags"])


# ----------------------------------------------------------------------- tags


async def test_add_tag_is_idempotent(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    for _ in range(2):
        response = await client.put(f"/v2/images/{image['id']}/tags/blue")
        assert response.status_code == 204
        assert response.content == b""
    assert await tags_of(client, image["id"]) == ["blue"]


@pytest.mark.parametrize("tag", ["with space", "a,b", "ünïcode", "t" * 255, "-", "x:y"])
async def test_tag_values_round_trip(client: httpx.AsyncClient, tag: str) -> None:
    image = await create_image(client)
    response = await client.put(f"/v2/images/{image['id']}/tags/{quote(tag)}")
    assert response.status_code == 204
    assert await tags_of(client, image["id"]) == [tag]
    assert (await client.delete(f"/v2/images/{image['id']}/tags/{quote(tag)}")).status_code == 204
    assert await tags_of(client, image["id"]) == []


async def test_tag_longer_than_255_is_400(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    assert (await client.put(f"/v2/images/{image['id']}/tags/{'t' * 256}")).status_code == 400
    # checked before the image is looked up
    assert (await client.put(f"/v2/images/{ABSENT}/tags/{'t' * 256}")).status_code == 400
    assert await tags_of(client, image["id"]) == []


async def test_delete_tag(client: httpx.AsyncClient) -> None:
    image = await create_image(client, tags=["a", "b"])
    assert (await client.delete(f"/v2/images/{image['id']}/tags/a")).status_code == 204
    assert await tags_of(client, image["id"]) == ["b"]
    # a tag that is not there (any more) is 404
    assert (await client.delete(f"/v2/images/{image['id']}/tags/a")).status_code == 404
    assert (await client.delete(f"/v2/images/{image['id']}/tags/zzz")).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_tag_calls_take_no_body(client: httpx.AsyncClient, method: str) -> None:
    image = await create_image(client, tags=["a"])
    response = await client.request(method, f"/v2/images/{image['id']}/tags/a", content=b"x")
    assert response.status_code == 400
    assert await tags_of(client, image["id"]) == ["a"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_tags_of_a_missing_image_are_404(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, f"/v2/images/{ABSENT}/tags/a")
    assert response.status_code == 404


async def test_tag_quota(make_client: Any) -> None:
    client = await make_client(image_tag_quota=2)
    image = await create_image(client, tags=["a"])
    assert (await client.put(f"/v2/images/{image['id']}/tags/b")).status_code == 204
    assert (await client.put(f"/v2/images/{image['id']}/tags/c")).status_code == 413
    # a tag the image already has adds nothing, so it is never over the quota
    assert (await client.put(f"/v2/images/{image['id']}/tags/a")).status_code == 204
    assert await tags_of(client, image["id"]) == ["a", "b"]


async def test_negative_tag_quota_is_unlimited(make_client: Any) -> None:
    client = await make_client(image_tag_quota=-1)
    image = await create_image(client)
    for n in range(3):
        assert (await client.put(f"/v2/images/{image['id']}/tags/t{n}")).status_code == 204


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_tag_changes_update_the_image(
    client: httpx.AsyncClient, records: Records, method: str
) -> None:
    image = records.add_image(tags=["a"], created_at=datetime(2020, 1, 1))
    assert (await client.request(method, f"/v2/images/{image.id}/tags/a")).status_code == 204
    assert (await show_image(client, image.id))["updated_at"] > "2020-01-01T00:00:00Z"


# ---------------------------------------------------------- deactivate, reactivate


async def action(client: httpx.AsyncClient, image_id: str, name: str, **kwargs: Any) -> int:
    response = await client.post(f"/v2/images/{image_id}/actions/{name}", **kwargs)
    return response.status_code


async def test_deactivate_and_reactivate_an_active_image(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    await make_active(client, image["id"])
    assert await action(client, image["id"], "deactivate") == 204
    assert (await show_image(client, image["id"]))["status"] == "deactivated"
    # deactivating again, or reactivating an active image, changes nothing
    assert await action(client, image["id"], "deactivate") == 204
    assert (await show_image(client, image["id"]))["status"] == "deactivated"
    assert await action(client, image["id"], "reactivate") == 204
    assert (await show_image(client, image["id"]))["status"] == "active"
    assert await action(client, image["id"], "reactivate") == 204
    assert (await show_image(client, image["id"]))["status"] == "active"


@pytest.mark.parametrize(
    ("status", "deactivate", "reactivate"),
    [
        ("queued", 403, 403),
        ("saving", 403, 403),
        ("uploading", 403, 403),
        ("importing", 403, 403),
        ("killed", 403, 403),
        ("active", 204, 204),
        ("deactivated", 204, 204),
    ],
)
async def test_actions_by_status(
    client: httpx.AsyncClient, records: Records, status: str, deactivate: int, reactivate: int
) -> None:
    for name, expected, after in (
        ("deactivate", deactivate, "deactivated"),
        ("reactivate", reactivate, "active"),
    ):
        image = records.add_image(status=status, disk_format="raw", container_format="bare")
        assert await action(client, image.id, name) == expected
        shown = (await show_image(client, image.id))["status"]
        assert shown == (after if expected == 204 else status)


@pytest.mark.parametrize("name", ["deactivate", "reactivate"])
async def test_actions_on_missing_or_deleted_images_are_404(
    client: httpx.AsyncClient, name: str
) -> None:
    image = await create_image(client)
    await client.delete(f"/v2/images/{image['id']}")
    assert await action(client, image["id"], name) == 404
    assert await action(client, ABSENT, name) == 404


@pytest.mark.parametrize("name", ["deactivate", "reactivate"])
async def test_actions_take_no_body(client: httpx.AsyncClient, records: Records, name: str) -> None:
    image = records.add_image(status="active" if name == "deactivate" else "deactivated")
    assert await action(client, image.id, name, content=b"{}") == 400
    assert (await show_image(client, image.id))["status"] == image.status


async def test_action_changes_updated_at(client: httpx.AsyncClient, records: Records) -> None:
    image = records.add_image(status="active", created_at=datetime(2020, 1, 1))
    assert await action(client, image.id, "deactivate") == 204
    assert (await show_image(client, image.id))["updated_at"] > "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("status", "name"), [("active", "reactivate"), ("deactivated", "deactivate")]
)
async def test_no_op_action_leaves_the_image_alone(
    client: httpx.AsyncClient, records: Records, status: str, name: str
) -> None:
    # Glance saves the image only when its status changes
    image = records.add_image(status=status, created_at=datetime(2020, 1, 1))
    assert await action(client, image.id, name) == 204
    assert (await show_image(client, image.id))["updated_at"] == "2020-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("owner", "visibility", "headers", "status"),
    [
        ("p1", "private", caller("p1"), 204),  # the owning project's member may
        ("p2", "public", caller("p1"), 403),
        ("p2", "private", caller("p1"), 404),
        ("p2", "private", admin(), 204),
    ],
    ids=["owner", "public-other", "private-other", "admin"],
)
async def test_who_may_deactivate(
    client: httpx.AsyncClient,
    records: Records,
    owner: str,
    visibility: str,
    headers: dict[str, str],
    status: int,
) -> None:
    image = records.add_image(owner=owner, visibility=visibility, status="active")
    assert await action(client, image.id, "deactivate", headers=headers) == status
    records.update_image(image.id, status="deactivated")
    assert await action(client, image.id, "reactivate", headers=headers) == status


@pytest.mark.parametrize(
    ("owner", "visibility", "headers", "status"),
    [
        ("p1", "private", caller("p1"), 204),
        ("p2", "public", caller("p1"), 403),
        ("p2", "private", caller("p1"), 404),
        ("p2", "private", admin(), 204),
    ],
    ids=["owner", "public-other", "private-other", "admin"],
)
async def test_who_may_tag(
    client: httpx.AsyncClient,
    records: Records,
    owner: str,
    visibility: str,
    headers: dict[str, str],
    status: int,
) -> None:
    image = records.add_image(owner=owner, visibility=visibility, tags=["old"])
    put = await client.put(f"/v2/images/{image.id}/tags/new", headers=headers)
    assert put.status_code == status
    delete = await client.delete(f"/v2/images/{image.id}/tags/old", headers=headers)
    assert delete.status_code == status
    expected = ["new"] if status == 204 else ["old"]
    assert (await show_image(client, image.id))["tags"] == expected


async def test_deactivated_image_keeps_its_metadata_but_not_its_data(
    client: httpx.AsyncClient,
) -> None:
    image = await create_image(client, headers=caller("p1"))
    await make_active(client, image["id"], data=b"bytes")
    assert await action(client, image["id"], "deactivate") == 204
    shown = await show_image(client, image["id"], headers=caller("p1"))
    assert shown["status"] == "deactivated"
    assert shown["size"] == 5
    # data: forbidden to everyone but admins
    response = await client.get(f"/v2/images/{image['id']}/file", headers=caller("p1"))
    assert response.status_code == 403
    response = await client.get(f"/v2/images/{image['id']}/file", headers=admin())
    assert (response.status_code, response.content) == (200, b"bytes")
