"""Several named stores (Glance's multi-store): discovery, the `stores` attribute, the
store of an upload, downloads by weight and ``?prefer=``, and removing one copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert

from glimpse.clock import utcnow
from glimpse.db.tables import image_locations
from glimpse.stores.registry import build_stores
from tests.support.records import OCTETS, admin, caller, create_image

# Glance 33 with enabled_backends (and no cache), as it lists them
MULTI_STORE_IDS = [
    "v2.15", "v2.13", "v2.12", "v2.11", "v2.10", "v2.9", "v2.8", "v2.17",
    "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0",
]  # fmt: skip
OWNER = caller("owner")


def store_sections(root: Path) -> dict[str, Any]:
    return {
        "fast": {"type": "file", "directory": root / "fast", "weight": 100,
                 "description": "Fast store"},
        "cheap": {"type": "file", "directory": root / "cheap", "weight": 50},
    }  # fmt: skip


@pytest.fixture
def multi_settings(tmp_path: Path) -> dict[str, Any]:
    return {"stores": store_sections(tmp_path), "default_store": "fast"}


@pytest.fixture
async def multi(make_client: Any, multi_settings: dict[str, Any]) -> httpx.AsyncClient:
    # Glance's secure-RBAC defaults: what callers with real tokens get
    made: httpx.AsyncClient = await make_client(enforce_new_defaults=True, **multi_settings)
    return made


async def uploaded(client: httpx.AsyncClient, data: bytes, store: str | None = None) -> str:
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    headers = {**OWNER, **OCTETS, **({"X-Image-Meta-Store": store} if store else {})}
    response = await client.put(f"/v2/images/{image['id']}/file", content=data, headers=headers)
    assert response.status_code == 204, response.text
    image_id: str = image["id"]
    return image_id


async def add_copy(
    make_settings: Any, multi_settings: dict[str, Any], image_id: str, store: str, data: bytes
) -> None:
    """A second copy of an image's data in ``store`` (what copy-image leaves)."""
    settings = make_settings(**multi_settings)
    target = build_stores(settings).get(store)
    assert target is not None
    writer = await target.writer(image_id, len(data))
    await writer.write(memoryview(data))
    url = await writer.commit()
    engine = create_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(image_locations).values(
                    image_id=image_id, url=url, store=store, meta="{}", created_at=utcnow()
                )
            )
    finally:
        engine.dispose()


async def test_versions_add_multi_store_ones(multi: httpx.AsyncClient) -> None:
    response = await multi.get("/versions")
    assert [v["id"] for v in response.json()["versions"]] == MULTI_STORE_IDS
    assert (await multi.get("/v2.10/images", headers=OWNER)).status_code == 200


async def test_single_store_knows_no_multi_store_versions(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2.10/images")).status_code == 300
    assert (await client.get("/v2/info/stores")).status_code == 404
    assert (await client.get("/v2/info/stores/detail", headers=admin())).status_code == 404
    assert (await client.delete("/v2/stores/file/x", headers=admin())).status_code == 404
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    assert "stores" not in image
    response = await client.post("/v2/images", json={}, headers=OWNER)
    assert "OpenStack-image-store-ids" not in response.headers


async def test_info_stores_lists_them_default_first(multi: httpx.AsyncClient) -> None:
    response = await multi.get("/v2/info/stores")
    assert response.status_code == 200
    assert response.json() == {
        "stores": [
            {"id": "fast", "description": "Fast store", "default": "true"},
            {"id": "cheap"},
        ]
    }


async def test_info_stores_detail_is_for_admins(
    multi: httpx.AsyncClient, multi_settings: dict[str, Any]
) -> None:
    refused = await multi.get("/v2/info/stores/detail", headers=OWNER)
    assert refused.status_code == 403
    response = await multi.get("/v2/info/stores/detail", headers=admin())
    assert response.status_code == 200
    fast, cheap = response.json()["stores"]
    assert fast == {
        "id": "fast",
        "type": "file",
        "description": "Fast store",
        "default": "true",
        "weight": 100,
        "properties": {
            "data_dir": str(multi_settings["stores"]["fast"]["directory"]),
            "chunk_size": 65536,
            "thin_provisioning": False,
        },
    }
    assert cheap["weight"] == 50 and "default" not in cheap


async def test_create_names_the_stores(multi: httpx.AsyncClient) -> None:
    response = await multi.post("/v2/images", json={}, headers=OWNER)
    assert response.headers["OpenStack-image-store-ids"] == "fast,cheap"
    assert "stores" not in response.json()  # no data yet


async def test_upload_goes_to_the_named_store(
    multi: httpx.AsyncClient, make_settings: Any, multi_settings: dict[str, Any]
) -> None:
    default = await uploaded(multi, b"a" * 1000)
    named = await uploaded(multi, b"b" * 1000, store="cheap")
    assert (await multi.get(f"/v2/images/{default}", headers=OWNER)).json()["stores"] == "fast"
    shown = (await multi.get(f"/v2/images/{named}", headers=OWNER)).json()
    assert shown["stores"] == "cheap"
    assert list(shown)[-1] == "stores"  # last, as Glance renders it
    listed = (await multi.get("/v2/images", headers=OWNER)).json()["images"]
    assert {image["id"]: image["stores"] for image in listed} == {
        default: "fast",
        named: "cheap",
    }
    stores = build_stores(make_settings(**multi_settings))
    cheap = stores.get("cheap")
    assert cheap is not None
    assert len([found async for found in cheap.objects()]) == 1


async def test_upload_to_an_unknown_store_is_400(multi: httpx.AsyncClient) -> None:
    image = await create_image(multi, OWNER, disk_format="raw", container_format="bare")
    response = await multi.put(
        f"/v2/images/{image['id']}/file",
        content=b"x",
        headers={**OWNER, **OCTETS, "X-Image-Meta-Store": "nope"},
    )
    assert response.status_code == 400
    assert "Store for identifier nope not found" in response.text
    shown = await multi.get(f"/v2/images/{image['id']}", headers=OWNER)
    assert shown.json()["status"] == "queued"


async def test_downloads_read_the_heaviest_copy_or_the_preferred_one(
    multi: httpx.AsyncClient, make_settings: Any, multi_settings: dict[str, Any]
) -> None:
    image_id = await uploaded(multi, b"data" * 100, store="cheap")
    # a copy with other bytes tells which store a download read from
    await add_copy(make_settings, multi_settings, image_id, "fast", b"FAST" * 100)
    shown = (await multi.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert shown["stores"] == "fast,cheap"  # by weight, highest first
    path = f"/v2/images/{image_id}/file"
    assert (await multi.get(path, headers=OWNER)).content == b"FAST" * 100
    preferred = await multi.get(path, params={"prefer": "cheap"}, headers=OWNER)
    assert preferred.content == b"data" * 100
    unknown = await multi.get(path, params={"prefer": "cheap,nope"}, headers=OWNER)
    assert unknown.status_code == 400


async def test_a_lost_copy_is_read_from_the_next(
    multi: httpx.AsyncClient, make_settings: Any, multi_settings: dict[str, Any]
) -> None:
    image_id = await uploaded(multi, b"data" * 100, store="cheap")
    await add_copy(make_settings, multi_settings, image_id, "fast", b"data" * 100)
    stores = build_stores(make_settings(**multi_settings))
    fast = stores.get("fast")
    assert fast is not None
    for location in [found async for found in fast.objects()]:
        await fast.delete(location)
    response = await multi.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert response.content == b"data" * 100


async def test_prefer_needs_multi_store(client: httpx.AsyncClient) -> None:
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    response = await client.get(
        f"/v2/images/{image['id']}/file", params={"prefer": "file"}, headers=OWNER
    )
    assert response.status_code == 400


async def test_remove_one_copy(
    multi: httpx.AsyncClient, make_settings: Any, multi_settings: dict[str, Any]
) -> None:
    image_id = await uploaded(multi, b"data" * 100)
    path = f"/v2/stores/fast/{image_id}"
    # the only copy stays: deleting the image is how
    only = await multi.delete(path, headers=admin())
    assert only.status_code == 403
    assert "only store" in only.text
    await add_copy(make_settings, multi_settings, image_id, "cheap", b"data" * 100)
    assert (await multi.delete("/v2/stores/nope/" + image_id, headers=admin())).status_code == 409
    # delete_image_location is admin-only by default
    assert (await multi.delete(path, headers=OWNER)).status_code == 403
    assert (await multi.delete(path, headers=admin())).status_code == 204
    shown = (await multi.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert shown["stores"] == "cheap"
    fast = build_stores(make_settings(**multi_settings)).get("fast")
    assert fast is not None
    assert [found async for found in fast.objects()] == []
    assert (await multi.get(f"/v2/images/{image_id}/file", headers=OWNER)).content == (
        b"data" * 100
    )
    # a store that does not hold it now
    await add_copy(make_settings, multi_settings, image_id, "cheap", b"data" * 100)
    assert (await multi.delete(path, headers=admin())).status_code == 404


async def test_remove_copy_needs_an_active_visible_image(multi: httpx.AsyncClient) -> None:
    image = await create_image(multi, OWNER, disk_format="raw", container_format="bare")
    response = await multi.delete(f"/v2/stores/fast/{image['id']}", headers=admin())
    assert response.status_code == 409
    missing = await multi.delete(
        "/v2/stores/fast/00000000-0000-0000-0000-000000000000", headers=admin()
    )
    assert missing.status_code == 404


async def test_direct_url_is_the_copy_a_download_reads_first(
    make_client: Any, make_settings: Any, multi_settings: dict[str, Any], tmp_path: Path
) -> None:
    """``show_image_direct_url``: the location in the heaviest store, placed where Glance
    places it (after updated_at), in shows and lists; none before there is data."""
    client = await make_client(show_image_direct_url=True, **multi_settings)
    queued = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    assert "direct_url" not in queued
    image_id = await uploaded(client, b"data" * 100, store="cheap")
    shown = (await client.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert shown["direct_url"] == (tmp_path / "cheap" / image_id).as_uri()
    keys = list(shown)
    assert keys[keys.index("updated_at") + 1] == "direct_url"
    await add_copy(make_settings, multi_settings, image_id, "fast", b"FAST" * 100)
    listed = (await client.get("/v2/images", headers=OWNER)).json()["images"]
    by_id = {image["id"]: image for image in listed}
    assert by_id[image_id]["direct_url"] == (tmp_path / "fast" / image_id).as_uri()
    assert "direct_url" not in by_id[queued["id"]]


async def test_no_direct_url_unless_asked_for(multi: httpx.AsyncClient) -> None:
    image_id = await uploaded(multi, b"data")
    assert "direct_url" not in (await multi.get(f"/v2/images/{image_id}", headers=OWNER)).json()
