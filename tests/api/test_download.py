"""``GET /v2/images/{id}/file``: full, ranged, empty, forbidden."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest

from tests.support.images import active, create
from tests.support.stored import Stored

DATA = os.urandom(3 * (1 << 20) + 12345)


async def test_full_download(client: httpx.AsyncClient) -> None:
    image = await active(client, DATA)
    response = await client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["content-md5"] == hashlib.md5(DATA).hexdigest()


async def test_zero_byte_image_downloads_empty(client: httpx.AsyncClient) -> None:
    image = await active(client, b"")
    response = await client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


async def test_no_data_is_204(client: httpx.AsyncClient) -> None:
    image = await create(client)
    response = await client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 204
    assert response.content == b""


async def test_unknown_image_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/images/00000000-0000-0000-0000-000000000000/file")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=1048570-2097160", 1048570, 2097160),
        (f"bytes=100-{len(DATA) + 5000}", 100, len(DATA) - 1),
        ("bytes=3000000-", 3000000, len(DATA) - 1),
        ("bytes=-10", len(DATA) - 10, len(DATA) - 1),
        (f"bytes=-{len(DATA) * 2}", 0, len(DATA) - 1),
    ],
)
async def test_ranges(client: httpx.AsyncClient, header: str, start: int, end: int) -> None:
    image = await active(client, DATA)
    response = await client.get(f"/v2/images/{image['id']}/file", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["content-length"] == str(end - start + 1)
    # Glance sends the whole image's md5 on partial responses too
    assert response.headers["content-md5"] == hashlib.md5(DATA).hexdigest()


async def test_legacy_content_range_request_header(client: httpx.AsyncClient) -> None:
    image = await active(client, DATA)
    response = await client.get(
        f"/v2/images/{image['id']}/file", headers={"Content-Range": "bytes 5-9/*"}
    )
    assert response.status_code == 206
    assert response.content == DATA[5:10]


@pytest.mark.parametrize(
    "header",
    [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 10}-{len(DATA) + 20}", "bytes=9-3", "bytes=x-y",
     "pages=1-2", "bytes=-0", "bytes"],
)  # fmt: skip
async def test_unsatisfiable_ranges_are_416(client: httpx.AsyncClient, header: str) -> None:
    image = await active(client, DATA)
    response = await client.get(f"/v2/images/{image['id']}/file", headers={"Range": header})
    assert response.status_code == 416


async def test_multiple_ranges_are_400(client: httpx.AsyncClient) -> None:
    image = await active(client, DATA)
    response = await client.get(
        f"/v2/images/{image['id']}/file", headers={"Range": "bytes=0-1,5-6"}
    )
    assert response.status_code == 400


async def test_deactivated_image_forbidden_to_non_admin(client: httpx.AsyncClient) -> None:
    owner = {"X-Project-Id": "p1", "X-Roles": "member,reader"}
    created = await client.post(
        "/v2/images", json={"disk_format": "raw", "container_format": "bare"}, headers=owner
    )
    image_id = created.json()["id"]
    await client.put(
        f"/v2/images/{image_id}/file",
        content=DATA,
        headers={**owner, "Content-Type": "application/octet-stream"},
    )
    assert (await client.get(f"/v2/images/{image_id}/file", headers=owner)).status_code == 200
    assert (await client.post(f"/v2/images/{image_id}/actions/deactivate")).status_code == 204
    assert (await client.get(f"/v2/images/{image_id}/file", headers=owner)).status_code == 403
    admin = {"X-Project-Id": "p9", "X-Roles": "admin"}
    response = await client.get(f"/v2/images/{image_id}/file", headers=admin)
    assert response.status_code == 200
    assert response.content == DATA
    assert (await client.post(f"/v2/images/{image_id}/actions/reactivate")).status_code == 204
    assert (await client.get(f"/v2/images/{image_id}/file", headers=owner)).status_code == 200


async def test_download_body_is_rejected(client: httpx.AsyncClient) -> None:
    image = await active(client, DATA)
    response = await client.request("GET", f"/v2/images/{image['id']}/file", content=b"x")
    assert response.status_code == 400


async def test_missing_data_in_store(client: httpx.AsyncClient, stored: Stored) -> None:
    """If an operator removed the data behind glimpse's back, the answer is a clean 4xx
    (Glance: the store says the data is missing → 204/404), never a hang or a 5xx."""
    image = await active(client, DATA)
    stored.remove_data_of(image["id"])
    response = await client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code in (204, 404)


def test_live_download_streams(live: httpx.Client) -> None:
    created = live.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    image_id = created.json()["id"]
    data = os.urandom(20 << 20)
    live.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    digest = hashlib.md5()
    size = 0
    with live.stream("GET", f"/v2/images/{image_id}/file") as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    assert size == len(data)
    assert digest.hexdigest() == hashlib.md5(data).hexdigest()
