"""``GET /v2/images/{id}/locations`` (2.17): where an image's data is, for services
(Nova, Cinder) that read it from the stores themselves; ``fetch_image_location`` is
theirs (the service or admin role), as in Glance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.records import OCTETS, admin, caller, create_image

OWNER = caller("owner")
# Nova and Cinder ask on behalf of the image's user, with the service role of their token
SERVICE = caller("owner", "member", "reader", "service")


async def uploaded(client: httpx.AsyncClient, data: bytes, **headers: str) -> str:
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    response = await client.put(
        f"/v2/images/{image['id']}/file", content=data, headers={**OWNER, **OCTETS, **headers}
    )
    assert response.status_code == 204, response.text
    image_id: str = image["id"]
    return image_id


async def test_services_read_where_the_data_is(client: httpx.AsyncClient, data_dir: Path) -> None:
    image_id = await uploaded(client, b"data")
    path = f"/v2/images/{image_id}/locations"
    for headers in (SERVICE, admin()):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        [location] = response.json()
        assert location["metadata"] == {}
        assert Path(location["url"].removeprefix("file://")).read_bytes() == b"data"
    queued = await create_image(client, OWNER)
    listed = await client.get(f"/v2/images/{queued['id']}/locations", headers=SERVICE)
    assert (listed.status_code, listed.json()) == (200, [])


async def test_others_may_not(client: httpx.AsyncClient) -> None:
    image_id = await uploaded(client, b"data")
    path = f"/v2/images/{image_id}/locations"
    refused = await client.get(path, headers=OWNER)  # even the owner: a service's call
    assert refused.status_code == 403
    assert "fetch_image_location" in refused.text
    # an image the caller cannot see does not exist for them
    assert (await client.get(path, headers=caller("stranger"))).status_code == 404
    missing = "/v2/images/00000000-0000-0000-0000-000000000000/locations"
    assert (await client.get(missing, headers=SERVICE)).status_code == 404


async def test_each_location_names_its_store_with_several(make_client: Any, tmp_path: Path) -> None:
    stores = {
        "fast": {"type": "file", "directory": tmp_path / "fast"},
        "cheap": {"type": "file", "directory": tmp_path / "cheap"},
    }
    client = await make_client(stores=stores, default_store="fast")
    image_id = await uploaded(client, b"data", **{"X-Image-Meta-Store": "cheap"})
    response = await client.get(f"/v2/images/{image_id}/locations", headers=SERVICE)
    [location] = response.json()
    assert location == {
        "url": (tmp_path / "cheap" / image_id).as_uri(),
        "metadata": {"store": "cheap"},
    }
