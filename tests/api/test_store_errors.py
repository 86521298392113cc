"""Store failures answered with Glance's codes on real media: a tmpfs that fills (413
"Image storage media is full"), a store directory that was removed, during one upload
and during several at once. Each failed upload leaves its image ``queued`` with no
bytes behind, and the store keeps serving the uploads that fit."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.images import create, show, upload

MiB = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs, mounted for the test."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def files_in(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


async def assert_queued_and_clean(client: httpx.AsyncClient, image_id: str) -> None:
    image = await show(client, image_id)
    assert (image["status"], image["size"], image["checksum"]) == ("queued", None, None)


async def test_a_full_disk_is_413_and_leaves_nothing(make_client: Any, small_disk: Path) -> None:
    client = await make_client(file_store_dir=str(small_disk))
    image = await create(client)
    response = await upload(client, image["id"], os.urandom(3 * MiB))
    assert response.status_code == 413, response.text
    assert "Image storage media is full" in response.text
    await assert_queued_and_clean(client, image["id"])
    assert files_in(small_disk) == []
    # the space is back: an upload that fits works
    assert (await upload(client, image["id"], os.urandom(MiB))).status_code == 204


async def test_concurrent_uploads_onto_a_filling_disk(make_client: Any, small_disk: Path) -> None:
    client = await make_client(file_store_dir=str(small_disk))
    images = [await create(client) for _ in range(6)]
    sizes = 700 * 1024  # 6 x 700 KiB into 2 MiB: some fit, the rest find it full
    codes = await asyncio.gather(
        *(upload(client, image["id"], os.urandom(sizes)) for image in images)
    )
    statuses = [r.status_code for r in codes]
    assert set(statuses) <= {204, 413}, [r.text for r in codes]
    assert statuses.count(204) >= 1 and statuses.count(413) >= 1, statuses
    stored = files_in(small_disk)
    assert len(stored) == statuses.count(204)  # no partial file of a failed one is left
    for image, response in zip(images, codes, strict=True):
        if response.status_code == 413:
            await assert_queued_and_clean(client, image["id"])
        else:
            assert (await show(client, image["id"]))["status"] == "active"


async def test_a_removed_store_directory(make_client: Any, tmp_path: Path) -> None:
    store = tmp_path / "store"
    client = await make_client(file_store_dir=str(store))
    image = await create(client)
    assert (await upload(client, image["id"], b"first")).status_code == 204
    shutil.rmtree(store)  # an operator's mistake, or a disk that went away
    second = await create(client)
    response = await upload(client, second["id"], b"second")
    # never a 500: the store is recreated, or the failure is the store's (503)
    assert response.status_code in (204, 503), response.text
    if response.status_code == 503:
        await assert_queued_and_clean(client, second["id"])
    gone = await client.get(f"/v2/images/{image['id']}/file")
    # its data is gone: Glance answers 204 (no content) for an image whose data is missing
    assert gone.status_code == 204, gone.text


async def test_a_read_only_store_directory(make_client: Any, small_disk: Path) -> None:
    """Root is not stopped by file modes, so the store's tmpfs is remounted read-only."""
    client = await make_client(file_store_dir=str(small_disk))
    first = await create(client)
    assert (await upload(client, first["id"], b"first")).status_code == 204
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"remounting a tmpfs read-only needs CAP_SYS_ADMIN: {done.stderr.decode()}")
    images = [await create(client) for _ in range(3)]
    responses = await asyncio.gather(
        *(upload(client, image["id"], os.urandom(64 * 1024)) for image in images)
    )
    for image, response in zip(images, responses, strict=True):
        # Glance: a denied write is the store's failure, 503, never a 500 of its own
        assert response.status_code == 503, response.text
        assert "Insufficient permissions on image storage media" in response.text
        await assert_queued_and_clean(client, image["id"])
    assert len(files_in(small_disk)) == 1  # only the first image's data
    assert (await client.get(f"/v2/images/{first['id']}/file")).content == b"first"
