"""Helpers the API tests share: create an image, upload to it, read it back."""

from __future__ import annotations

from typing import Any

import httpx

OCTETS = {"Content-Type": "application/octet-stream"}


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    response = await client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


async def upload(
    client: httpx.AsyncClient, image_id: str, data: bytes, **headers: str
) -> httpx.Response:
    return await client.put(
        f"/v2/images/{image_id}/file", content=data, headers={**OCTETS, **headers}
    )


async def show(client: httpx.AsyncClient, image_id: str) -> dict[str, Any]:
    response = await client.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


async def active(
    client: httpx.AsyncClient, data: bytes = b"x" * 1000, **body: Any
) -> dict[str, Any]:
    image = await create(client, **body)
    response = await upload(client, image["id"], data)
    assert response.status_code == 204, response.text
    return await show(client, image["id"])
