"""glance-direct: stage, then import; copy-image; the import lock; the tasks API."""

from __future__ import annotations

import os
from typing import Any

import httpx

from tests.imports.conftest import (
    OWNER,
    md5,
    new_image,
    settled,
    stage,
    start_import,
)
from tests.support.records import Records, admin, caller

DIRECT = {"method": {"name": "glance-direct"}}


async def test_info_import_and_create_header(importer: httpx.AsyncClient) -> None:
    info = (await importer.get("/v2/info/import")).json()
    assert info["import-methods"]["value"] == ["glance-direct", "web-download", "copy-image"]
    created = await importer.post("/v2/images", json={}, headers=OWNER)
    assert created.headers["OpenStack-image-import-methods"] == (
        "glance-direct,web-download,copy-image"
    )


async def test_stage_then_import_makes_it_active(importer: httpx.AsyncClient) -> None:
    data = os.urandom(3 << 20)
    image_id = await new_image(importer)
    assert (await stage(importer, image_id, data)).status_code == 204
    staged = (await importer.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert staged["status"] == "uploading"
    assert staged["size"] == len(data)
    response = await start_import(importer, image_id, DIRECT)
    assert response.status_code == 202, response.text
    image = await settled(importer, image_id)
    assert image["status"] == "active"
    assert image["checksum"] == md5(data)
    assert image["size"] == len(data) and image["virtual_size"] == len(data)
    assert image["stores"] == "fast"
    assert image["os_glance_importing_to_stores"] == ""
    assert image["os_glance_failed_import"] == ""
    (task,) = image["_tasks"]
    assert task["status"] == "success" and task["type"] == "api_image_import"
    assert task["result"] == {"image_id": image_id}
    assert task["input"]["backend"] == ["fast"]
    assert task["created_at"].endswith(".000000") or "." in task["created_at"]
    download = await importer.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert download.content == data


async def test_import_to_named_stores(importer: httpx.AsyncClient) -> None:
    data = os.urandom(100_000)
    image_id = await new_image(importer)
    await stage(importer, image_id, data)
    response = await start_import(importer, image_id, {**DIRECT, "stores": ["cheap", "fast"]})
    assert response.status_code == 202
    image = await settled(importer, image_id)
    assert image["status"] == "active"
    assert set(image["stores"].split(",")) == {"cheap", "fast"}


async def test_import_refusals(importer: httpx.AsyncClient) -> None:
    image_id = await new_image(importer)
    # nothing staged: glance-direct needs the image uploading
    assert (await start_import(importer, image_id, DIRECT)).status_code == 409
    await stage(importer, image_id, b"x" * 1000)
    for body, code in [
        ({}, 400),
        ({"method": {}}, 400),
        ({"method": {"name": "nope"}}, 400),
        ({**DIRECT, "all_stores": "yes"}, 400),
        ({**DIRECT, "all_stores": True, "stores": ["fast"]}, 400),
        ({**DIRECT, "stores": ["nope"]}, 409),
    ]:
        response = await start_import(importer, image_id, body)
        assert response.status_code == code, (body, response.text)
    both = await start_import(
        importer, image_id, {**DIRECT, "stores": ["fast"]}, {**OWNER, "X-Image-Meta-Store": "fast"}
    )
    assert both.status_code == 400
    other = await start_import(importer, image_id, DIRECT, caller("other"))
    assert other.status_code == 404
    missing = await start_import(importer, "00000000-0000-0000-0000-000000000000", DIRECT)
    assert missing.status_code == 404
    # nothing of that changed the image
    shown = (await importer.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert shown["status"] == "uploading"


async def test_stage_refusals(importer: httpx.AsyncClient, make_client: Any) -> None:
    image_id = await new_image(importer)
    wrong_type = await importer.put(
        f"/v2/images/{image_id}/stage",
        content=b"x",
        headers={**OWNER, "Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415
    await stage(importer, image_id, b"x")
    assert (await stage(importer, image_id, b"x")).status_code == 409
    plain = await make_client(enforce_new_defaults=True)
    other = await new_image(plain)
    assert (await stage(plain, other, b"x")).status_code == 404  # glance-direct disabled


async def test_copy_image_and_the_import_lock(
    make_client: Any, import_settings: dict[str, Any]
) -> None:
    # no worker: the first copy stays queued, holding the image
    idle = await make_client(**{**import_settings, "run_workers": False})
    image_id = await new_image(idle)
    await stage(idle, image_id, b"y" * 5000)
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    assert (await start_import(idle, image_id, copy, admin())).status_code == 409  # not active
    worker_app = await make_client(**import_settings)
    assert (await start_import(worker_app, image_id, DIRECT)).status_code == 202
    assert (await settled(worker_app, image_id))["status"] == "active"
    # copy-image is for admins by default
    assert (await start_import(idle, image_id, copy)).status_code == 403
    assert (await start_import(idle, image_id, copy, admin())).status_code == 202
    again = await start_import(idle, image_id, copy, admin())
    assert again.status_code == 409
    # a worker on another "node" takes the queued copy
    await worker_app.get("/v2/info/import")
    image = await settled(worker_app, image_id)
    assert set(image["stores"].split(",")) == {"fast", "cheap"}
    already = await start_import(idle, image_id, copy, admin())
    assert already.status_code == 400
    everywhere = {"method": {"name": "copy-image"}, "all_stores": True}
    assert (await start_import(idle, image_id, everywhere, admin())).status_code == 202


async def test_tasks_api(importer: httpx.AsyncClient) -> None:
    image_id = await new_image(importer)
    await stage(importer, image_id, b"z" * 100)
    await start_import(importer, image_id, DIRECT)
    image = await settled(importer, image_id)
    task_id = image["_tasks"][0]["id"]
    assert (await importer.get("/v2/tasks", headers=OWNER)).status_code == 403
    assert (await importer.get(f"/v2/tasks/{task_id}", headers=OWNER)).status_code == 403
    listed = (await importer.get("/v2/tasks", headers=admin())).json()
    assert [t["id"] for t in listed["tasks"]] == [task_id]
    assert listed["schema"] == "/v2/schemas/tasks"
    shown = (await importer.get(f"/v2/tasks/{task_id}", headers=admin())).json()
    assert shown["status"] == "success"
    assert shown["self"] == f"/v2/tasks/{task_id}"
    assert shown["expires_at"].endswith("Z")
    assert shown["image_id"] == image_id
    missing = await importer.get("/v2/tasks/00000000-0000-0000-0000-000000000000", headers=admin())
    assert missing.status_code == 404
    hidden = await importer.get(f"/v2/images/{image_id}/tasks", headers=caller("other"))
    assert hidden.status_code == 404


async def test_a_failed_stage_returns_the_image_to_queued(
    make_client: Any, import_settings: dict[str, Any]
) -> None:
    client = await make_client(**import_settings, image_size_cap=1000)
    image_id = await new_image(client)
    path = f"/v2/images/{image_id}/stage"
    octets = {**OWNER, "Content-Type": "application/octet-stream"}
    announced = await client.put(
        path, content=b"x" * 10, headers={**octets, "x-openstack-image-size": "5000"}
    )
    assert announced.status_code == 413
    over = await client.put(path, content=b"x" * 5000, headers=octets)
    assert over.status_code == 413
    wrong_size = await client.put(
        path, content=b"x" * 10, headers={**octets, "x-openstack-image-size": "11"}
    )
    assert wrong_size.status_code == 400
    shown = (await client.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert shown["status"] == "queued" and shown["size"] is None
    assert (await stage(client, image_id, b"x" * 10)).status_code == 204
    missing = await stage(client, "00000000-0000-0000-0000-000000000000", b"x")
    assert missing.status_code == 404


async def test_tasks_pages(importer: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        image_id = await new_image(importer)
        await stage(importer, image_id, b"p" * 10)
        await start_import(importer, image_id, DIRECT)
        ids.append((await settled(importer, image_id))["_tasks"][0]["id"])
    first = (await importer.get("/v2/tasks", params={"limit": 2}, headers=admin())).json()
    assert len(first["tasks"]) == 2 and "next" in first
    rest = (await importer.get(first["next"], headers=admin())).json()
    assert len(rest["tasks"]) == 1
    assert {t["id"] for t in first["tasks"] + rest["tasks"]} == set(ids)
    for params in ({"limit": "x"}, {"limit": "-1"}, {"marker": "nope"}):
        bad = await importer.get("/v2/tasks", params=params, headers=admin())
        assert bad.status_code == 400, params


async def test_copy_image_refuses_data_that_no_longer_matches_its_checksum(
    importer: httpx.AsyncClient, tmp_path: Any
) -> None:
    data = os.urandom(1 << 20)
    image_id = await new_image(importer)
    await stage(importer, image_id, data)
    await start_import(importer, image_id, DIRECT)
    assert (await settled(importer, image_id))["status"] == "active"
    # the copy's source rots on disk (same size, one byte flipped)
    (stored,) = (tmp_path / "fast").iterdir()
    rotten = bytearray(stored.read_bytes())
    rotten[12345] ^= 0xFF
    stored.write_bytes(bytes(rotten))
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    assert (await start_import(importer, image_id, copy, admin())).status_code == 202
    image = await settled(importer, image_id)
    assert image["status"] == "active"
    assert image["stores"] == "fast"
    assert image["os_glance_failed_import"] == "cheap"
    assert any("does not match its recorded checksum" in t["message"] for t in image["_tasks"])
    assert not (tmp_path / "cheap").exists() or not any((tmp_path / "cheap").iterdir())


async def test_copy_image_of_an_image_with_an_md5_alone(
    importer: httpx.AsyncClient, make_settings: Any
) -> None:
    # as Glance's records from before multihash: no os_hash_value to compare with
    image_id = await new_image(importer)
    await stage(importer, image_id, os.urandom(1 << 20))
    await start_import(importer, image_id, DIRECT)
    assert (await settled(importer, image_id))["status"] == "active"
    records = Records(make_settings().resolved_database_url)
    try:
        records.update_image(image_id, os_hash_algo=None, os_hash_value=None)
    finally:
        records.close()
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    assert (await start_import(importer, image_id, copy, admin())).status_code == 202
    image = await settled(importer, image_id)
    assert set(image["stores"].split(",")) == {"fast", "cheap"}
    assert image["os_glance_failed_import"] == ""
