"""The published schemas are, in content, exactly Glance's."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

SAMPLES = Path(__file__).parent.parent / "data" / "samples"


@pytest.mark.parametrize("name", ["image", "images", "member", "members", "task", "tasks"])
async def test_schema_matches_glance(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/v2/schemas/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads((SAMPLES / f"schema-{name}.json").read_text())


async def test_schema_rejects_other_methods(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/schemas/image", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


async def test_unknown_schema_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/schemas/nope")).status_code == 404


async def test_configured_formats_reach_the_schema(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(disk_formats=["raw", "qcow2"], container_formats=["bare"])
    schema = (await client.get("/v2/schemas/image")).json()
    assert schema["properties"]["disk_format"]["enum"] == [None, "raw", "qcow2"]
    assert schema["properties"]["container_format"]["enum"] == [None, "bare"]
    created = await client.post("/v2/images", json={"disk_format": "vmdk"})
    assert created.status_code == 400
