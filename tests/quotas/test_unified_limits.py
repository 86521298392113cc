"""Glance's unified limits under glimpse's own limits (noauth callers of two projects,
real SQLite and PostgreSQL): create, upload, stage and import over each limit, usage
counted as Glance counts it, uploads racing for the last MiB, /v2/info/usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.quotas.limits import LocalLimits
from tests.imports.conftest import new_image, settled, stage, start_import
from tests.support.records import OCTETS, caller, create_image
from tests.support.stored import Stored

MIB = 1 << 20
ALPHA = caller("alpha")
BETA = caller("beta")
UNLIMITED = {
    "image_size_total": -1, "image_stage_total": -1, "image_count_total": -1,
    "image_count_uploading": -1,
}  # fmt: skip


async def limited(make_client: Any, **limits: int) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await make_client(
        use_keystone_limits=True, registered_limits={**UNLIMITED, **limits}
    )
    return client


async def image(client: httpx.AsyncClient, headers: dict[str, str] = ALPHA) -> str:
    made = await create_image(client, headers, disk_format="raw", container_format="bare")
    image_id: str = made["id"]
    return image_id


async def put(
    client: httpx.AsyncClient, image_id: str, data: Any, headers: dict[str, str] = ALPHA
) -> httpx.Response:
    return await client.put(
        f"/v2/images/{image_id}/file", content=data, headers={**headers, **OCTETS}
    )


async def status(client: httpx.AsyncClient, image_id: str) -> str:
    found: str = (await client.get(f"/v2/images/{image_id}", headers=ALPHA)).json()["status"]
    return found


async def usage(client: httpx.AsyncClient, headers: dict[str, str] = ALPHA) -> dict[str, Any]:
    response = await client.get("/v2/info/usage", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def chunks(*parts: bytes, wait: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """A chunked body (no length announced); waits for ``wait`` before its last part."""
    for number, part in enumerate(parts):
        if wait is not None and number == len(parts) - 1:
            await wait.wait()
        yield part


# --------------------------------------------------------------------------- off


async def test_off_by_default_usage_is_empty(client: httpx.AsyncClient) -> None:
    assert await usage(client) == {"usage": {}}
    for _ in range(3):
        await image(client)


async def test_usage_counts_as_glance_does(make_client: Any, stored: Stored) -> None:
    client = await limited(make_client, image_size_total=100, image_count_total=10)
    active = await image(client)
    assert (await put(client, active, b"a" * (3 * MIB + 5))).status_code == 204
    await image(client)  # queued: counts as an image, holds no data
    await image(client, BETA)
    found = await usage(client)
    assert found == {
        "usage": {
            "image_size_total": {"usage": 3, "limit": 100},
            "image_stage_total": {"usage": 0, "limit": -1},
            "image_count_total": {"usage": 2, "limit": 10},
            "image_count_uploading": {"usage": 0, "limit": -1},
        }
    }
    assert (await usage(client, BETA))["usage"]["image_count_total"]["usage"] == 1
    # a deleted image frees its count and its data
    assert (await client.delete(f"/v2/images/{active}", headers=ALPHA)).status_code == 204
    after = (await usage(client))["usage"]
    assert after["image_size_total"]["usage"] == 0
    assert after["image_count_total"]["usage"] == 1


# ------------------------------------------------------------------------ create


async def test_create_over_image_count_total_is_413(make_client: Any) -> None:
    client = await limited(make_client, image_count_total=2)
    await image(client)
    await image(client)
    response = await client.post(
        "/v2/images", json={"name": "third"}, headers={**ALPHA, "Accept": "application/json"}
    )
    assert response.status_code == 413
    message = response.json()["message"]
    assert "image_count_total is over limit of 2 due to current usage 2 and delta 1" in message
    assert "Project alpha is over a limit" in message
    # another project has its own count
    await image(client, BETA)


async def test_concurrent_creates_never_pass_the_count(make_client: Any) -> None:
    client = await limited(make_client, image_count_total=3)
    answers = await asyncio.gather(
        *(client.post("/v2/images", json={}, headers=ALPHA) for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [201] * 3 + [413] * 5
    assert (await usage(client))["usage"]["image_count_total"]["usage"] == 3


async def test_a_project_limit_overrides_the_registered_one(
    make_client: Any, make_settings: Any
) -> None:
    client = await limited(make_client, image_count_total=1)
    await set_limits(make_settings(), "alpha", image_count_total=3)
    for _ in range(3):
        await image(client)
    assert (await client.post("/v2/images", json={}, headers=ALPHA)).status_code == 413
    await image(client, BETA)
    assert (await client.post("/v2/images", json={}, headers=BETA)).status_code == 413
    found = (await usage(client))["usage"]["image_count_total"]
    assert found == {"usage": 3, "limit": 3}


async def set_limits(settings: Settings, project: str, **values: int) -> None:
    """What ``glimpse limits set`` does, on the database of ``settings``."""
    db = Database(settings.resolved_database_url, pool_size=2)
    try:
        await LocalLimits(db, settings).set(project, values)
    finally:
        await db.aclose()


# ------------------------------------------------------------------------ upload


async def test_upload_over_image_size_total(make_client: Any, stored: Stored) -> None:
    client = await limited(make_client, image_size_total=1)
    first = await image(client)
    assert (await put(client, first, b"a" * (MIB + 100))).status_code == 204
    # announced: refused before a byte is read
    second = await image(client)
    response = await put(client, second, b"b" * MIB)
    assert response.status_code == 413
    assert (
        "image_size_total is over limit of 1 due to current usage 1 and delta 1"
        in (response.json()["message"])
    )
    assert await status(client, second) == "queued"
    # not announced: stopped while it streams, nothing kept
    response = await put(client, second, chunks(b"c" * (MIB // 2), b"c" * (MIB // 2)))
    assert response.status_code == 413
    assert await status(client, second) == "queued"
    assert len(stored.objects()) == 1 and not stored.leftovers()
    # under a MiB adds nothing, as Glance counts
    assert (await put(client, second, b"d" * 1000)).status_code == 204


async def test_uploads_racing_for_the_last_mib(make_client: Any, stored: Stored) -> None:
    """Each fits alone; together they would pass the limit: one of them is refused at
    the end, its data removed and its image back to queued."""
    client = await limited(make_client, image_size_total=1)
    ids = [await image(client), await image(client)]
    both_started = asyncio.Event()
    half = b"x" * (3 * MIB // 4)

    async def send(image_id: str) -> httpx.Response:
        return await put(client, image_id, chunks(half, half, wait=both_started))

    racing = [asyncio.create_task(send(i)) for i in ids]
    while (await usage(client))["usage"]["image_count_uploading"]["usage"] < 2:
        await asyncio.sleep(0.02)
    both_started.set()
    answers = [(await r).status_code for r in racing]
    assert sorted(answers) == [204, 413]
    statuses = sorted([await status(client, i) for i in ids])
    assert statuses == ["active", "queued"]
    winner = ids[answers.index(204)]
    assert stored.data_of(winner) == half * 2
    assert len(stored.objects()) == 1 and not stored.leftovers()
    assert (await usage(client))["usage"]["image_size_total"]["usage"] == 1


async def test_upload_over_image_count_uploading(make_client: Any) -> None:
    client = await limited(make_client, image_count_uploading=1)
    first, second = await image(client), await image(client)
    go = asyncio.Event()
    slow = asyncio.create_task(put(client, first, chunks(b"a" * 1000, b"a", wait=go)))
    while await status(client, first) != "saving":
        await asyncio.sleep(0.02)
    response = await put(client, second, b"b" * 1000)
    assert response.status_code == 413
    assert "image_count_uploading is over limit of 1" in response.json()["message"]
    assert await status(client, second) == "queued"
    go.set()
    assert (await slow).status_code == 204
    assert (await put(client, second, b"b" * 1000)).status_code == 204


# ------------------------------------------------------------------ stage, import


@pytest.fixture
async def limited_importer(make_client: Any, import_settings: dict[str, Any]) -> Any:
    async def make(**limits: int) -> httpx.AsyncClient:
        client: httpx.AsyncClient = await make_client(
            **import_settings,
            use_keystone_limits=True,
            registered_limits={**UNLIMITED, **limits},
        )
        return client

    return make


async def test_stage_over_image_stage_total(limited_importer: Any) -> None:
    client = await limited_importer(image_stage_total=1)
    first = await new_image(client)
    assert (await stage(client, first, b"s" * (MIB + 10))).status_code == 204
    second = await new_image(client)
    response = await stage(client, second, b"t" * MIB)
    assert response.status_code == 413
    assert "image_stage_total is over limit of 1" in response.json()["message"]
    owner = {"X-Project-Id": "owner", "X-Roles": "member,reader"}
    seen = (await client.get(f"/v2/images/{second}", headers=owner)).json()
    assert seen["status"] == "queued"
    found = (await usage(client, owner))["usage"]
    assert found["image_stage_total"]["usage"] == 1
    assert found["image_count_uploading"]["usage"] == 1


async def test_stage_over_image_count_uploading(limited_importer: Any) -> None:
    client = await limited_importer(image_count_uploading=1)
    first, second = await new_image(client), await new_image(client)
    assert (await stage(client, first, b"s" * 100)).status_code == 204
    response = await stage(client, second, b"t" * 100)
    assert response.status_code == 413
    assert "image_count_uploading is over limit of 1" in response.json()["message"]


async def test_glance_direct_over_image_size_total_is_a_recorded_failure(
    limited_importer: Any,
) -> None:
    client = await limited_importer(image_size_total=1)
    image_id = await new_image(client)
    assert (await stage(client, image_id, b"s" * (2 * MIB))).status_code == 204
    response = await start_import(client, image_id, {"method": {"name": "glance-direct"}})
    assert response.status_code == 202
    found = await settled(client, image_id)
    assert found["status"] == "queued"
    (task,) = found["_tasks"]
    assert task["status"] == "failure"
    assert "image_size_total is over limit of 1" in task["message"]
    # as Glance: the store leaves importing without counting as failed
    assert found["os_glance_importing_to_stores"] == ""
    assert found["os_glance_failed_import"] == ""


async def test_import_refused_while_image_size_total_is_passed(
    limited_importer: Any, make_settings: Any, import_settings: dict[str, Any]
) -> None:
    client = await limited_importer(image_size_total=2)
    image_id = await new_image(client)
    assert (await stage(client, image_id, b"s" * (2 * MIB))).status_code == 204
    assert (
        await start_import(client, image_id, {"method": {"name": "glance-direct"}})
    ).status_code == 202
    assert (await settled(client, image_id))["status"] == "active"
    # the limit lowered below what the project holds: no import starts
    await set_limits(make_settings(**import_settings), "owner", image_size_total=1)
    other = await new_image(client)
    response = await start_import(
        client, other, {"method": {"name": "web-download", "uri": "http://example.com/x"}}
    )
    assert response.status_code == 413
    assert (
        "image_size_total is over limit of 1 due to current usage 2 and delta 0"
        in (response.json()["message"])
    )


async def test_web_download_over_image_stage_total_is_a_recorded_failure(
    make_client: Any, import_settings: dict[str, Any], web: Any
) -> None:
    client = await make_client(
        **import_settings,
        import_allowed_hosts=["127.0.0.1"],
        import_allowed_ports=[web.port],
        web_download_retries=0,
        use_keystone_limits=True,
        registered_limits={**UNLIMITED, "image_stage_total": 1},
    )
    url = web.serve("/big", b"w" * (3 * MIB))
    image_id = await new_image(client)
    body = {"method": {"name": "web-download", "uri": url}}
    assert (await start_import(client, image_id, body)).status_code == 202
    found = await settled(client, image_id)
    assert found["status"] == "queued"
    assert found["_tasks"][0]["status"] == "failure"
    assert f"over the limit of {2 * MIB - 1}" in found["_tasks"][0]["message"]


async def test_stages_racing_for_the_last_mib(limited_importer: Any) -> None:
    client = await limited_importer(image_stage_total=1)
    owner = {"X-Project-Id": "owner", "X-Roles": "member,reader"}
    ids = [await new_image(client), await new_image(client)]
    both_started = asyncio.Event()
    half = b"x" * (3 * MIB // 4)

    async def send(image_id: str) -> httpx.Response:
        return await client.put(
            f"/v2/images/{image_id}/stage",
            content=chunks(half, half, wait=both_started),
            headers={**owner, **OCTETS},
        )

    racing = [asyncio.create_task(send(i)) for i in ids]
    while (await usage(client, owner))["usage"]["image_count_uploading"]["usage"] < 2:
        await asyncio.sleep(0.02)
    both_started.set()
    answers = [(await r).status_code for r in racing]
    assert sorted(answers) == [204, 413]
    statuses = [(await client.get(f"/v2/images/{i}", headers=owner)).json()["status"] for i in ids]
    assert sorted(statuses) == ["queued", "uploading"]
    found = (await usage(client, owner))["usage"]
    assert found["image_stage_total"]["usage"] == 1
    assert found["image_count_uploading"]["usage"] == 1
