"""Format safety on every path in: images crafted with qemu-img (Debian's qemu-utils)
are refused by the import job — on glance-direct and on web-download — as a recorded
failure, never ``active``; valid ones get their ``virtual_size``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.imports.conftest import new_image, settled, stage, start_import
from tests.support.records import admin
from tests.support.web import Web

# scripts/test installs qemu-img and requires it; elsewhere its absence is a named skip
pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None and os.environ.get("GLIMPSE_TEST_REQUIRE_QEMU_IMG") != "1",
    reason="qemu-img (Debian's qemu-utils) is not installed",
)
DIRECT = {"method": {"name": "glance-direct"}}


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def crafted(tmp_path: Path, kind: str) -> tuple[bytes, str]:
    """(the bytes, the disk_format they claim)."""
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * (1 << 20))
    image = tmp_path / f"{kind}.img"
    if kind == "backing-file":
        qemu_img("create", "-f", "qcow2", "-b", str(base), "-F", "raw", str(image))
        return image.read_bytes(), "qcow2"
    if kind == "data-file":
        qemu_img(
            "create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'ext.raw'}", str(image), "1M"
        )
        return image.read_bytes(), "qcow2"
    if kind == "flat-vmdk":
        qemu_img("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(image), "1M")
        return image.read_bytes(), "vmdk"
    if kind == "raw-as-qcow2":
        return base.read_bytes(), "qcow2"
    raise AssertionError(kind)


UNSAFE = ["backing-file", "data-file", "flat-vmdk", "raw-as-qcow2"]


@pytest.mark.parametrize("kind", UNSAFE)
async def test_crafted_images_are_refused_on_glance_direct(
    importer: httpx.AsyncClient, tmp_path: Path, kind: str
) -> None:
    data, disk_format = crafted(tmp_path, kind)
    image_id = await new_image(importer, disk_format=disk_format)
    assert (await stage(importer, image_id, data)).status_code == 204
    assert (await start_import(importer, image_id, DIRECT)).status_code == 202
    image = await settled(importer, image_id)
    assert image["status"] == "queued"
    assert image["os_glance_failed_import"] == "fast"
    (task,) = image["_tasks"]
    assert task["status"] == "failure" and task["message"]
    assert "stores" not in image
    # the staged data is gone with the failed import; the image can be tried again
    assert (await stage(importer, image_id, data)).status_code == 204


@pytest.mark.parametrize("kind", ["backing-file", "flat-vmdk"])
async def test_crafted_images_are_refused_on_web_download(
    web_importer: httpx.AsyncClient, web: Web, tmp_path: Path, kind: str
) -> None:
    data, disk_format = crafted(tmp_path, kind)
    image_id = await new_image(web_importer, disk_format=disk_format)
    body = {"method": {"name": "web-download", "uri": web.serve("/bad", data)}}
    assert (await start_import(web_importer, image_id, body)).status_code == 202
    image = await settled(web_importer, image_id)
    assert image["status"] == "queued"
    assert image["_tasks"][0]["status"] == "failure"


async def test_a_valid_qcow2_gets_its_virtual_size(
    importer: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "ok.qcow2"
    qemu_img("create", "-f", "qcow2", str(path), "10M")
    image_id = await new_image(importer, disk_format="qcow2")
    await stage(importer, image_id, path.read_bytes())
    await start_import(importer, image_id, DIRECT)
    image = await settled(importer, image_id)
    assert image["status"] == "active"
    assert image["virtual_size"] == 10 << 20
    assert image["size"] == path.stat().st_size


async def test_copy_image_inspects_too(importer: httpx.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "ok.qcow2"
    qemu_img("create", "-f", "qcow2", str(path), "1M")
    image_id = await new_image(importer, disk_format="qcow2")
    await stage(importer, image_id, path.read_bytes())
    await start_import(importer, image_id, DIRECT)
    assert (await settled(importer, image_id))["status"] == "active"
    copy = {"method": {"name": "copy-image"}, "stores": ["cheap"]}
    assert (await start_import(importer, image_id, copy, admin())).status_code == 202
    image = await settled(importer, image_id)
    assert set(image["stores"].split(",")) == {"fast", "cheap"}
    assert image["virtual_size"] == 1 << 20
