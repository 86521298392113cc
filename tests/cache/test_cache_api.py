"""The image cache through the API: Glance's /v2/cache calls, a prefetch queued and
served by this node, read-through from a remote (http) store, copies checked against
the image's hashes, LRU pruning and cleaning — real files, a real HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.records import OCTETS, admin, caller, create_image, patch_image
from tests.support.server import ServerProcess
from tests.support.web import Web, reaching

OWNER = caller("owner")
ADMIN = admin()
NODE = "http://node-a:9292"


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
async def cached(make_client: Any, web: Web, cache_dir: Path) -> httpx.AsyncClient:
    made: httpx.AsyncClient = await make_client(
        image_cache_dir=cache_dir,
        worker_self_reference_url=NODE,
        show_multiple_locations=True,
        **reaching(web),
    )
    return made


async def uploaded(client: httpx.AsyncClient, data: bytes) -> str:
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    response = await client.put(
        f"/v2/images/{image['id']}/file", content=data, headers={**OWNER, **OCTETS}
    )
    assert response.status_code == 204, response.text
    image_id: str = image["id"]
    return image_id


async def at_http(client: httpx.AsyncClient, url: str, **validation: str) -> str:
    """An image whose data is at ``url`` (read through the http store)."""
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    value: dict[str, Any] = {"url": url, "metadata": {}}
    if validation:
        value["validation_data"] = validation
    response = await patch_image(
        client, image["id"], [{"op": "add", "path": "/locations/-", "value": value}], headers=OWNER
    )
    assert response.status_code == 200, response.text
    image_id: str = image["id"]
    return image_id


async def state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v2/cache", headers=ADMIN)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def cached_ids(client: httpx.AsyncClient) -> list[str]:
    return [entry["image_id"] for entry in (await state(client))["cached_images"]]


async def until_cached(client: httpx.AsyncClient, image_id: str) -> dict[str, Any]:
    for _ in range(200):
        for entry in (await state(client))["cached_images"]:
            if entry["image_id"] == image_id:
                found: dict[str, Any] = entry
                return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{image_id} was never cached")


async def test_only_admins_and_only_with_a_cache(
    make_client: Any, cached: httpx.AsyncClient
) -> None:
    for method, path in (
        ("GET", "/v2/cache"),
        ("DELETE", "/v2/cache"),
        ("PUT", "/v2/cache/some-id"),
        ("DELETE", "/v2/cache/some-id"),
        ("POST", "/v2/cache/clean"),
        ("POST", "/v2/cache/prune"),
        ("GET", "/v2/cache/nodes/some-id"),
    ):
        refused = await cached.request(method, path, headers=OWNER)
        assert refused.status_code == 403, (method, path)
    plain = await make_client()
    assert (await plain.get("/v2/cache", headers=OWNER)).status_code == 403
    off = await plain.get("/v2/cache", headers=ADMIN)
    assert off.status_code == 404
    assert "Caching via API is not supported at this site." in off.text
    # the cache API's versions only where there is a cache, in Glance's order
    listed = [v["id"] for v in (await cached.get("/versions")).json()["versions"]]
    assert listed[:5] == ["v2.18", "v2.17", "v2.16", "v2.15", "v2.14"]
    assert "v2.18" not in [v["id"] for v in (await plain.get("/versions")).json()["versions"]]


async def test_a_queued_image_is_fetched_and_served_from_the_cache(
    cached: httpx.AsyncClient, cache_dir: Path, tmp_path: Path
) -> None:
    data = os.urandom(300_000)
    image_id = await uploaded(cached, data)
    assert (await cached.put("/v2/cache/no-such-image", headers=ADMIN)).status_code == 404
    queued = await create_image(cached, OWNER)
    refused = await cached.put(f"/v2/cache/{queued['id']}", headers=ADMIN)
    assert refused.status_code == 400
    assert "Only images with status active can be targeted for queueing" in refused.text

    assert (await cached.put(f"/v2/cache/{image_id}", headers=ADMIN)).status_code == 202
    entry = await until_cached(cached, image_id)
    assert (entry["size"], entry["hits"]) == (len(data), 0)
    assert entry["last_accessed"] <= time.time()
    assert (cache_dir / image_id).read_bytes() == data
    nodes = await cached.get(f"/v2/cache/nodes/{image_id}", headers=ADMIN)
    assert (nodes.status_code, nodes.json()) == (200, [NODE])

    # the store loses the data: the node still serves its cached copy, whole or in part
    for stored in (tmp_path / "images").glob(f"{image_id}*"):
        stored.unlink()
    whole = await cached.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert (whole.status_code, whole.content) == (200, data)
    part = await cached.get(
        f"/v2/images/{image_id}/file", headers={**OWNER, "Range": "bytes=100-199"}
    )
    assert (part.status_code, part.content) == (206, data[100:200])
    assert (await until_cached(cached, image_id))["hits"] == 2


async def test_a_remote_image_fills_the_cache_as_it_is_read(
    cached: httpx.AsyncClient, web: Web, cache_dir: Path
) -> None:
    data = os.urandom(2_500_000)
    image_id = await at_http(
        cached,
        web.serve("/image.raw", data),
        checksum=hashlib.md5(data).hexdigest(),
        os_hash_algo="sha512",
        os_hash_value=hashlib.sha512(data).hexdigest(),
    )
    first = await cached.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert first.content == data
    assert (await until_cached(cached, image_id))["size"] == len(data)
    web.routes.clear()  # the remote store no longer has it
    again = await cached.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert (again.status_code, again.content) == (200, data)


async def test_a_copy_whose_hashes_differ_is_not_kept(
    cached: httpx.AsyncClient, web: Web, cache_dir: Path
) -> None:
    data = os.urandom(100_000)
    wrong = hashlib.md5(b"other data").hexdigest()
    image_id = await at_http(cached, web.serve("/image.raw", data), checksum=wrong,
                             os_hash_algo="sha512", os_hash_value="ab" * 64)  # fmt: skip
    served = await cached.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert served.content == data  # as stored; only the cache refuses it
    assert image_id not in await cached_ids(cached)
    assert not (cache_dir / image_id).exists()
    assert list((cache_dir / "incomplete").iterdir()) == []


def test_a_reader_that_stops_early_leaves_nothing(web: Web, tmp_path: Path) -> None:
    """A real server: a client that hangs up after the first bytes of a remote image
    leaves no cache entry and no unfinished file."""
    data = os.urandom(32_000_000)
    url = web.serve("/image.raw", data)
    cache_dir = tmp_path / "cache"
    env = {
        "GLIMPSE_IMAGE_CACHE_DIR": str(cache_dir),
        "GLIMPSE_SHOW_MULTIPLE_LOCATIONS": "true",
        "GLIMPSE_IMPORT_ALLOWED_HOSTS": '["127.0.0.1"]',
        "GLIMPSE_IMPORT_ALLOWED_PORTS": f"[{web.port}]",
    }
    with (
        ServerProcess(tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as client,
    ):
        image = client.post(
            "/v2/images", json={"disk_format": "raw", "container_format": "bare"}, headers=OWNER
        ).json()
        added = client.patch(
            f"/v2/images/{image['id']}",
            json=[{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}],
            headers={**OWNER, "Content-Type": "application/openstack-images-v2.1-json-patch"},
        )
        assert added.status_code == 200, added.text
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                f"GET /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                "X-Project-Id: owner\r\nX-Roles: member,reader\r\n\r\n".encode()
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            listed = client.get("/v2/cache", headers=ADMIN).json()["cached_images"]
            leftovers = list((cache_dir / "incomplete").iterdir())
            if not leftovers:
                break
            time.sleep(0.1)
        assert listed == [] and leftovers == []
        # a whole read afterwards fills it, even by a client that hangs up the moment it
        # has the last byte
        request = (
            f"GET /v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "X-Project-Id: owner\r\nX-Roles: member,reader\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(request.encode())
            time.sleep(1)  # the server's last write waits for this reader (flow control)
            received = b""
            while not received.endswith(data[-64:]):
                more = sock.recv(1 << 20)
                assert more, "the server closed early"
                received += more
        time.sleep(0.5)
        listed = client.get("/v2/cache", headers=ADMIN).json()["cached_images"]
        assert [entry["image_id"] for entry in listed] == [image["id"]]


async def test_a_cache_disk_that_fails_never_fails_the_download(
    cached: httpx.AsyncClient, web: Web, cache_dir: Path
) -> None:
    """The cache cannot write (its incomplete/ is a file, as a full or broken disk would
    refuse it): the image is still served whole, only not cached."""
    data = os.urandom(1_000_000)
    image_id = await at_http(cached, web.serve("/image.raw", data))
    shutil.rmtree(cache_dir / "incomplete", ignore_errors=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "incomplete").write_bytes(b"not a directory")
    for _ in range(2):
        served = await cached.get(f"/v2/images/{image_id}/file", headers=OWNER)
        assert (served.status_code, served.content) == (200, data)
    assert image_id not in await cached_ids(cached)
    assert not (cache_dir / image_id).exists()


async def test_delete_and_clear(cached: httpx.AsyncClient) -> None:
    first = await uploaded(cached, b"first image")
    second = await uploaded(cached, b"second image")
    for image_id in (first, second):
        await cached.put(f"/v2/cache/{image_id}", headers=ADMIN)
        await until_cached(cached, image_id)
    assert (await cached.delete(f"/v2/cache/{first}", headers=ADMIN)).status_code == 204
    assert await cached_ids(cached) == [second]
    missing = await cached.delete("/v2/cache/no-such-image", headers=ADMIN)
    assert missing.status_code == 404
    bad = await cached.delete(
        "/v2/cache", headers={**ADMIN, "x-image-cache-clear-target": "invalid"}
    )
    assert bad.status_code == 400
    queue_only = await cached.delete(
        "/v2/cache", headers={**ADMIN, "x-image-cache-clear-target": "queue"}
    )
    assert queue_only.status_code == 204
    assert await cached_ids(cached) == [second]
    assert (await cached.delete("/v2/cache", headers=ADMIN)).status_code == 204
    assert await state(cached) == {"cached_images": [], "queued_images": []}


async def test_the_least_recently_read_go_first(make_client: Any, cache_dir: Path) -> None:
    client = await make_client(image_cache_dir=cache_dir, image_cache_max_size=250_000)
    ids = []
    for _ in range(3):
        image_id = await uploaded(client, os.urandom(100_000))
        await client.put(f"/v2/cache/{image_id}", headers=ADMIN)
        await until_cached(client, image_id)
        ids.append(image_id)
    # the first was pruned when the third came in (300 000 bytes > 250 000)
    assert sorted(await cached_ids(client)) == sorted(ids[1:])
    await client.get(f"/v2/images/{ids[1]}/file", headers=OWNER)  # read again: kept
    pruned = await client.post("/v2/cache/prune", headers=ADMIN)
    assert pruned.json() == {"total_files_pruned": 0, "total_bytes_pruned": 0}
    fourth = await uploaded(client, os.urandom(100_000))
    await client.put(f"/v2/cache/{fourth}", headers=ADMIN)
    await until_cached(client, fourth)
    assert sorted(await cached_ids(client)) == sorted([ids[1], fourth])


async def test_clean_removes_what_should_not_be_served(make_client: Any, cache_dir: Path) -> None:
    client = await make_client(image_cache_dir=cache_dir, image_cache_stall_time=60)
    image_id = await uploaded(client, b"soon deleted")
    await client.put(f"/v2/cache/{image_id}", headers=ADMIN)
    await until_cached(client, image_id)
    assert (await client.delete(f"/v2/images/{image_id}", headers=OWNER)).status_code == 204
    stalled = cache_dir / "incomplete" / "0c5ba0e8-0000-4000-8000-000000000000"
    stalled.write_bytes(b"left by a dead writer")
    os.utime(stalled, (time.time() - 120, time.time() - 120))
    stray = cache_dir / "0c5ba0e8-0000-4000-8000-000000000001"
    stray.write_bytes(b"no record vouches for this")
    cleaned = await client.post("/v2/cache/clean", headers=ADMIN)
    assert (cleaned.status_code, cleaned.content) == (200, b"")
    assert await cached_ids(client) == []
    assert not (cache_dir / image_id).exists()
    assert not stalled.exists() and not stray.exists()
