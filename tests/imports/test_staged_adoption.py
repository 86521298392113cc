"""Staged data is read once: its hashes and format findings are taken as it is staged,
and a file store on the same file system takes the staged file as it is (a hard link).
Where it cannot (another file system, data staged before digests were kept), the import
reads, hashes and inspects the data as before, with the same outcome."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from glimpse.db.tables import image_staged
from tests.imports.conftest import OWNER, md5, new_image, settled, stage, start_import

DIRECT = {"method": {"name": "glance-direct"}}
SHM = Path("/dev/shm")


async def imported(client: Any, data: bytes, before_import: Any = None) -> dict[str, Any]:
    image_id = await new_image(client)
    assert (await stage(client, image_id, data)).status_code == 204
    if before_import is not None:
        before_import(image_id)
    assert (await start_import(client, image_id, DIRECT)).status_code == 202
    image: dict[str, Any] = await settled(client, image_id)
    assert image["status"] == "active", image
    assert image["checksum"] == md5(data)
    assert image["size"] == image["virtual_size"] == len(data)
    download = await client.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert download.content == data
    return image


async def test_the_staged_file_becomes_the_stored_one(
    make_client: Any, import_settings: dict[str, Any]
) -> None:
    client = await make_client(**import_settings)
    staging = Path(import_settings["stores"]["os_glance_staging_store"]["directory"])
    fast = Path(import_settings["stores"]["fast"]["directory"])
    data = os.urandom(3 << 20)
    inodes: list[int] = []

    def note_inode(image_id: str) -> None:
        inodes.append((staging / image_id).stat().st_ino)

    image = await imported(client, data, note_inode)
    assert (fast / image["id"]).stat().st_ino == inodes[0]  # linked, not copied
    assert list(staging.iterdir()) == []  # the staged name is gone


async def test_data_staged_without_digests_is_read_again(
    make_client: Any, import_settings: dict[str, Any], database_url: str
) -> None:
    """Staged before this version kept digests: the import inspects and hashes it."""
    client = await make_client(**import_settings)
    engine = create_engine(database_url)

    def forget_digests(image_id: str) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(image_staged).where(image_staged.c.image_id == image_id).values(digests=None)
            )

    try:
        image = await imported(client, os.urandom(2 << 20), forget_digests)
    finally:
        engine.dispose()
    fast = Path(import_settings["stores"]["fast"]["directory"])
    assert (fast / image["id"]).stat().st_nlink == 1


@pytest.fixture
def shm_dir(tmp_path: Path) -> Iterator[Path]:
    if not SHM.is_dir() or os.stat(SHM).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no /dev/shm on a file system other than the test directory's")
    directory = SHM / f"glimpse-test-{uuid.uuid4()}"
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


async def test_staging_on_another_file_system_is_copied(
    make_client: Any, import_settings: dict[str, Any], shm_dir: Path
) -> None:
    stores = {**import_settings["stores"], "os_glance_staging_store": {
        "type": "file", "directory": shm_dir
    }}  # fmt: skip
    client = await make_client(**{**import_settings, "stores": stores})
    data = os.urandom(5 << 20)
    image = await imported(client, data)
    fast = Path(import_settings["stores"]["fast"]["directory"])
    assert (fast / image["id"]).stat().st_nlink == 1
    assert list(shm_dir.iterdir()) == []


async def test_data_in_a_container_is_adopted_uninspected(
    make_client: Any, import_settings: dict[str, Any]
) -> None:
    """As the ingest: only ``bare`` data is judged by its format (a qcow2 header in an
    ``ova`` is not refused, and gives no virtual size)."""
    client = await make_client(**import_settings)
    data = b"QFI\xfb" + os.urandom(1 << 20)
    image_id = await new_image(client, disk_format="raw", container_format="ova")
    assert (await stage(client, image_id, data)).status_code == 204
    assert (await start_import(client, image_id, DIRECT)).status_code == 202
    image = await settled(client, image_id)
    assert (image["status"], image["checksum"]) == ("active", md5(data)), image
    assert image["virtual_size"] is None
