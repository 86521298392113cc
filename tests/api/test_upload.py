"""The seed: ``PUT /v2/images/{id}/file``, every status code provoked for real.

In-process tests use the app over httpx; those that need real sockets, real timing or
a real process (races, deletes during a slow upload, disconnects, a node dying) use a
``glimpse serve`` process.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.disk_images import qcow2
from tests.support.images import OCTETS, active, create, show, upload
from tests.support.server import ServerProcess
from tests.support.stored import Stored
from tests.support.unwritable import unwritable


async def assert_reset(client: httpx.AsyncClient, image_id: str, stored: Stored) -> None:
    """After a failed upload: back to queued, no data recorded, no bytes left behind."""
    image = await show(client, image_id)
    assert image["status"] == "queued"
    assert image["size"] is None
    assert image["checksum"] is None
    assert stored.data_of(image_id) is None
    assert stored.leftovers() == set()


# ---------------------------------------------------------------------------- 204


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, (1 << 20) + 17, 3 * (1 << 20)])
async def test_upload_sets_size_and_hashes(
    client: httpx.AsyncClient, stored: Stored, size: int
) -> None:
    data = os.urandom(size)
    image = await create(client)
    response = await upload(client, image["id"], data)
    assert response.status_code == 204
    assert response.content == b""
    shown = await show(client, image["id"])
    assert shown["status"] == "active"
    assert shown["size"] == size
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    # raw: the byte count (Glance records only a non-zero virtual size)
    assert shown["virtual_size"] == (size or None)
    assert stored.data_of(image["id"]) == data
    assert stored.leftovers() == set()


async def test_chunked_upload(client: httpx.AsyncClient, stored: Stored) -> None:
    pieces = [os.urandom(n) for n in (1, 70_000, 1 << 20, 5, 300_000)]

    async def body() -> Any:
        for piece in pieces:
            yield piece

    image = await create(client)
    response = await client.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTETS)
    assert response.status_code == 204
    data = b"".join(pieces)
    shown = await show(client, image["id"])
    assert shown["size"] == len(data)
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()


async def test_hashing_algorithm_setting(make_client: Any) -> None:
    client = await make_client(hashing_algorithm="sha256")
    image = await active(client, b"abc")
    assert image["os_hash_algo"] == "sha256"
    assert image["os_hash_value"] == hashlib.sha256(b"abc").hexdigest()


async def test_declared_size_matching_is_accepted(client: httpx.AsyncClient) -> None:
    image = await create(client)
    response = await upload(client, image["id"], b"12345", **{"x-openstack-image-size": "5"})
    assert response.status_code == 204


async def test_declared_size_zero_declares_nothing(client: httpx.AsyncClient) -> None:
    # as Glance: clients that do not know the size send 0
    image = await create(client)
    response = await upload(client, image["id"], b"hello", **{"x-openstack-image-size": "0"})
    assert response.status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}")).json()["size"] == 5


async def test_named_default_store_is_accepted(client: httpx.AsyncClient) -> None:
    image = await create(client)
    response = await upload(client, image["id"], b"12345", **{"X-Image-Meta-Store": "file"})
    assert response.status_code == 204


async def test_updated_at_moves_on_upload(client: httpx.AsyncClient) -> None:
    image = await create(client)
    await asyncio.sleep(1.1)
    await upload(client, image["id"], b"x")
    assert (await show(client, image["id"]))["updated_at"] > image["updated_at"]


# ---------------------------------------------------------------------------- 400


@pytest.mark.parametrize("missing", ["disk_format", "container_format"])
async def test_formats_must_be_set(client: httpx.AsyncClient, stored: Stored, missing: str) -> None:
    image = await create(client, **{missing: None})
    response = await upload(client, image["id"], b"data")
    assert response.status_code == 400
    await assert_reset(client, image["id"], stored)


async def test_declared_size_mismatch_is_400(client: httpx.AsyncClient, stored: Stored) -> None:
    image = await create(client)
    too_short = await upload(client, image["id"], b"123", **{"x-openstack-image-size": "5"})
    assert too_short.status_code == 400
    await assert_reset(client, image["id"], stored)
    too_long = await upload(client, image["id"], b"1234567", **{"x-openstack-image-size": "5"})
    assert too_long.status_code == 400
    await assert_reset(client, image["id"], stored)
    # and a correct upload still works afterwards
    assert (await upload(client, image["id"], b"12345")).status_code == 204


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
async def test_declared_size_must_be_a_count(client: httpx.AsyncClient, value: str) -> None:
    image = await create(client)
    response = await upload(client, image["id"], b"x", **{"x-openstack-image-size": value})
    assert response.status_code == 400


async def test_unknown_store_is_400(client: httpx.AsyncClient, stored: Stored) -> None:
    image = await create(client)
    response = await upload(client, image["id"], b"x", **{"X-Image-Meta-Store": "ceph-nowhere"})
    assert response.status_code == 400
    await assert_reset(client, image["id"], stored)


async def test_unknown_store_is_400_before_404(client: httpx.AsyncClient) -> None:
    response = await upload(
        client, "00000000-0000-0000-0000-000000000000", b"x", **{"X-Image-Meta-Store": "nope"}
    )
    assert response.status_code == 400


# ---------------------------------------------------------------------------- 403


async def test_non_owner_cannot_upload(client: httpx.AsyncClient) -> None:
    owner = {"X-Project-Id": "p1", "X-Roles": "member"}
    created = await client.post(
        "/v2/images",
        json={"disk_format": "raw", "container_format": "bare", "visibility": "community"},
        headers=owner,
    )
    image_id = created.json()["id"]
    other = {"X-Project-Id": "p2", "X-Roles": "member", **OCTETS}
    response = await client.put(f"/v2/images/{image_id}/file", content=b"x", headers=other)
    assert response.status_code == 403
    # the owner can
    response = await client.put(
        f"/v2/images/{image_id}/file", content=b"x", headers={**owner, **OCTETS}
    )
    assert response.status_code == 204


# ---------------------------------------------------------------------------- 404


async def test_unknown_image_is_404(client: httpx.AsyncClient) -> None:
    response = await upload(client, "00000000-0000-0000-0000-000000000000", b"x")
    assert response.status_code == 404


async def test_deleted_image_is_404(client: httpx.AsyncClient) -> None:
    image = await create(client)
    assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204
    assert (await upload(client, image["id"], b"x")).status_code == 404


async def test_invisible_image_is_404(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/v2/images",
        json={"disk_format": "raw", "container_format": "bare", "visibility": "private"},
        headers={"X-Project-Id": "p1", "X-Roles": "member"},
    )
    other = {"X-Project-Id": "p2", "X-Roles": "member", **OCTETS}
    response = await client.put(
        f"/v2/images/{created.json()['id']}/file", content=b"x", headers=other
    )
    assert response.status_code == 404


# ---------------------------------------------------------------------------- 409


async def test_second_upload_is_409(client: httpx.AsyncClient, stored: Stored) -> None:
    image = await active(client, b"first")
    response = await upload(client, image["id"], b"second")
    assert response.status_code == 409
    shown = await show(client, image["id"])
    assert shown["checksum"] == hashlib.md5(b"first").hexdigest()
    assert stored.data_of(image["id"]) == b"first"


async def test_deactivated_image_upload_is_409(client: httpx.AsyncClient) -> None:
    image = await active(client)
    await client.post(f"/v2/images/{image['id']}/actions/deactivate")
    assert (await upload(client, image["id"], b"x")).status_code == 409


# ---------------------------------------------------------------------------- 413


async def test_declared_size_over_cap_is_413_before_reading(
    make_client: Any, stored: Stored
) -> None:
    client = await make_client(image_size_cap=1000)
    image = await create(client)
    response = await upload(client, image["id"], b"x" * 10, **{"x-openstack-image-size": "1001"})
    assert response.status_code == 413
    await assert_reset(client, image["id"], stored)


async def test_content_length_over_cap_is_413(make_client: Any, stored: Stored) -> None:
    client = await make_client(image_size_cap=1000)
    image = await create(client)
    response = await upload(client, image["id"], b"x" * 1001)
    assert response.status_code == 413
    await assert_reset(client, image["id"], stored)
    assert (await upload(client, image["id"], b"x" * 1000)).status_code == 204


async def test_chunked_over_cap_is_413_mid_stream(make_client: Any, stored: Stored) -> None:
    client = await make_client(image_size_cap=(1 << 20) + 10)

    async def body() -> Any:
        for _ in range(3):
            yield os.urandom(1 << 20)

    image = await create(client)
    response = await client.put(f"/v2/images/{image['id']}/file", content=body(), headers=OCTETS)
    assert response.status_code == 413
    await assert_reset(client, image["id"], stored)


async def test_user_storage_quota(make_client: Any, stored: Stored) -> None:
    client = await make_client(user_storage_quota="2KB")
    first = await active(client, b"x" * 1500)
    assert first["size"] == 1500
    second = await create(client)
    response = await upload(client, second["id"], b"y" * 600)
    assert response.status_code == 413
    await assert_reset(client, second["id"], stored)
    assert (await upload(client, second["id"], b"y" * 548)).status_code == 204
    # deleting frees the space again
    assert (await client.delete(f"/v2/images/{first['id']}")).status_code == 204
    third = await create(client)
    assert (await upload(client, third["id"], b"z" * 1400)).status_code == 204


# ---------------------------------------------------------------------------- 415


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain", "image/png"])
async def test_content_type_must_be_octet_stream(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    image = await create(client)
    headers = {"Content-Type": content_type} if content_type else {}
    request = client.build_request(
        "PUT", f"/v2/images/{image['id']}/file", content=b"x", headers=headers
    )
    if content_type is None:
        request.headers.pop("Content-Type", None)
    response = await client.send(request)
    assert response.status_code == 415
    assert (await show(client, image["id"]))["status"] == "queued"


async def test_format_mismatch_is_415(client: httpx.AsyncClient, stored: Stored) -> None:
    image = await create(client, disk_format="qcow2")
    response = await upload(client, image["id"], os.urandom(70_000))
    assert response.status_code == 415
    await assert_reset(client, image["id"], stored)


async def test_qcow2_with_backing_file_is_415(client: httpx.AsyncClient, stored: Stored) -> None:
    image = await create(client, disk_format="qcow2")
    response = await upload(client, image["id"], qcow2(1 << 30, backing_file=True))
    assert response.status_code == 415
    await assert_reset(client, image["id"], stored)


async def test_qcow2_gets_its_virtual_size(client: httpx.AsyncClient) -> None:
    image = await active(client, qcow2(10 << 30), disk_format="qcow2")
    assert image["virtual_size"] == 10 << 30
    assert image["size"] == len(qcow2(10 << 30))


async def test_qcow2_declared_raw_is_accepted_as_raw(client: httpx.AsyncClient) -> None:
    data = qcow2(1 << 30)
    image = await active(client, data, disk_format="raw")
    assert image["virtual_size"] == len(data)


async def test_uninspectable_formats_accept_anything(client: httpx.AsyncClient) -> None:
    image = await active(client, os.urandom(5000), disk_format="ami", container_format="ami")
    assert image["status"] == "active"
    assert image["virtual_size"] is None


async def test_non_bare_containers_are_not_inspected(client: httpx.AsyncClient) -> None:
    image = await active(client, os.urandom(5000), disk_format="qcow2", container_format="ovf")
    assert image["status"] == "active"
    assert image["virtual_size"] is None


# ---------------------------------------------------------------------------- 503


@pytest.fixture
def unwritable_store(make_settings: Any) -> Iterator[Path]:
    """The file store's directory, made unwritable for real."""
    store = make_settings().resolved_stores["file"]
    store.directory.mkdir(parents=True, exist_ok=True)
    with unwritable(store.directory):
        yield store.directory


async def test_unwritable_store_is_503(
    client: httpx.AsyncClient, stored: Stored, unwritable_store: Path
) -> None:
    image = await create(client)
    response = await upload(client, image["id"], b"data")
    assert response.status_code == 503
    assert "Insufficient permissions on image storage media" in response.text  # Glance's words
    await assert_reset(client, image["id"], stored)


# ------------------------------------------------- real server: races and timing


def slow_body(pieces: int, delay: float) -> Iterator[bytes]:
    for _ in range(pieces):
        yield os.urandom(64 * 1024)
        time.sleep(delay)


def create_live(live: httpx.Client) -> str:
    response = live.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    assert response.status_code == 201
    image_id: str = response.json()["id"]
    return image_id


def wait_for_status(live: httpx.Client, image_id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if live.get(f"/v2/images/{image_id}").json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} never reached {status}")


class SlowUpload(threading.Thread):
    """A chunked upload of ``pieces`` pieces of 64 KiB, one piece every ``delay`` seconds, on its
    own connection; ``status`` holds the answer once joined."""

    def __init__(self, server: ServerProcess, image_id: str, pieces: int, delay: float) -> None:
        super().__init__()
        self.url = f"{server.url}/v2/images/{image_id}/file"
        self.pieces = pieces
        self.delay = delay
        self.status = 0

    def run(self) -> None:
        body = slow_body(self.pieces, self.delay)
        self.status = httpx.put(self.url, content=body, headers=OCTETS, timeout=60).status_code


def test_concurrent_uploads_one_wins(live: httpx.Client, server: ServerProcess) -> None:
    image_id = create_live(live)
    slow = SlowUpload(server, image_id, pieces=20, delay=0.05)
    slow.start()
    wait_for_status(live, image_id, "saving")
    fast = live.put(f"/v2/images/{image_id}/file", content=b"fast", headers=OCTETS)
    slow.join()
    assert fast.status_code in (409, 410)
    assert slow.status == 204
    image = live.get(f"/v2/images/{image_id}").json()
    assert image["status"] == "active"
    assert image["size"] == 20 * 64 * 1024


def test_racing_uploads_exactly_one_204(live: httpx.Client, server: ServerProcess) -> None:
    image_id = create_live(live)
    data = [os.urandom(300_000) for _ in range(4)]
    codes: list[int] = []
    barrier = threading.Barrier(len(data))

    def put(body: bytes) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            barrier.wait()
            codes.append(
                http.put(f"/v2/images/{image_id}/file", content=body, headers=OCTETS).status_code
            )

    threads = [threading.Thread(target=put, args=(body,)) for body in data]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes).count(204) == 1, codes
    assert all(code in (204, 409, 410) for code in codes), codes
    image = live.get(f"/v2/images/{image_id}").json()
    assert image["checksum"] in {hashlib.md5(body).hexdigest() for body in data}
    stored = Stored.of_server(server)
    assert hashlib.md5(stored.data_of(image_id) or b"").hexdigest() == image["checksum"]
    assert stored.leftovers() == set()


def test_delete_during_upload_is_410(live: httpx.Client, server: ServerProcess) -> None:
    image_id = create_live(live)
    slow = SlowUpload(server, image_id, pieces=30, delay=0.05)
    slow.start()
    wait_for_status(live, image_id, "saving")
    assert live.delete(f"/v2/images/{image_id}").status_code == 204
    slow.join()
    assert slow.status == 410
    assert live.get(f"/v2/images/{image_id}").status_code == 404
    assert Stored.of_server(server).objects() == set()


def test_client_disconnect_resets_image(live: httpx.Client, server: ServerProcess) -> None:
    import socket

    image_id = create_live(live)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (
            f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n"
        )
        sock.sendall(head.encode() + os.urandom(2_000_000))
        wait_for_status(live, image_id, "saving")
    wait_for_status(live, image_id, "queued")
    assert Stored.of_server(server).leftovers() == set()
    assert live.put(f"/v2/images/{image_id}/file", content=b"ok", headers=OCTETS).status_code == 204


def test_dead_node_upload_is_reaped(
    live: httpx.Client, server: ServerProcess, tmp_path: Path
) -> None:
    """A node killed mid-upload leaves a lease; another node returns the image to
    queued and removes the partial bytes once the lease expires."""
    image_id = create_live(live)
    # the doomed node shares the database and the store directory with `server`
    doomed = ServerProcess(
        server.data_dir,
        env={
            "GLIMPSE_DATABASE_URL": server_database_url(server),
            "GLIMPSE_UPLOAD_LEASE_SECONDS": "2",
        },
    )
    doomed.log_path = tmp_path / "doomed.log"
    doomed.start()
    try:
        with SocketUpload(doomed.port, image_id, declared=10_000_000, sent=3_000_000):
            wait_for_status(live, image_id, "saving")
            assert Stored.of_server(server).leftovers() != set()
            doomed.kill()
    finally:
        doomed.stop()
    # every node looks for expired leases at start-up (and every 30 s after)
    reaper = ServerProcess(
        server.data_dir,
        env={"GLIMPSE_DATABASE_URL": server_database_url(server)},
    )
    reaper.log_path = tmp_path / "reaper.log"
    time.sleep(2.5)  # let the lease expire
    with reaper:
        wait_for_status(live, image_id, "queued")
    assert Stored.of_server(server).leftovers() == set()


def server_database_url(server: ServerProcess) -> str:
    return server.env["GLIMPSE_DATABASE_URL"]


class SocketUpload:
    """A raw upload that sends part of its body and then hangs, until closed."""

    def __init__(self, port: int, image_id: str, *, declared: int, sent: int) -> None:
        import socket

        self._sock = socket.create_connection(("127.0.0.1", port))
        head = (
            f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n"
        )
        self._sock.sendall(head.encode() + os.urandom(sent))

    def __enter__(self) -> SocketUpload:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
