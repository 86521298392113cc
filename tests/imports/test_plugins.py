"""Import plugins (Glance's image_conversion, image_decompression, inject_image_metadata)
with the real qemu-img: conversion checked byte for byte with ``qemu-img compare``,
unsafe or corrupt data and runaway qemu-img runs as recorded failures, decompression
with its bomb limit, injected properties, and nothing of it unless configured."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.config import Settings
from glimpse.imports.conversion import Conversion
from glimpse.imports.decompression import detect
from glimpse.tasks.model import JobFailed
from tests.imports.conftest import (
    OWNER,
    VIRTUAL,
    fake_qemu_img,
    gone,
    md5,
    new_image,
    run,
    settled,
    stage,
    start_import,
    written_qcow2,
)
from tests.support.records import admin
from tests.support.web import Web

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-img") is None and os.environ.get("GLIMPSE_TEST_REQUIRE_QEMU_IMG") != "1",
    reason="qemu-img (Debian's qemu-utils) is not installed",
)
DIRECT = {"method": {"name": "glance-direct"}}


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def plugin_client(
    make_client: Any, import_settings: dict[str, Any], web: Web, work_dir: Path
) -> Callable[..., Any]:
    """An importer with the given plugin settings (it may download from ``web``)."""

    async def make(**settings: Any) -> httpx.AsyncClient:
        made: httpx.AsyncClient = await make_client(
            **import_settings,
            import_allowed_hosts=["127.0.0.1"],
            import_allowed_ports=[web.port],
            web_download_retries=1,
            image_import_work_dir=work_dir,
            **settings,
        )
        return made

    return make


async def downloaded(client: httpx.AsyncClient, image_id: str, path: Path) -> Path:
    response = await client.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


async def imported(client: httpx.AsyncClient, data: bytes, **image: Any) -> dict[str, Any]:
    image_id = await new_image(client, **image)
    assert (await stage(client, image_id, data)).status_code == 204
    assert (await start_import(client, image_id, DIRECT)).status_code == 202
    return await settled(client, image_id)


def failed(image: dict[str, Any]) -> str:
    """The failure a refused import recorded (the image back to queued, no data)."""
    assert image["status"] == "queued", image
    assert image["os_glance_failed_import"] == "fast"
    assert "stores" not in image
    (task,) = image["_tasks"]
    assert task["status"] == "failure"
    message: str = task["message"]
    return message


# --------------------------------------------------------------------- conversion


async def test_glance_direct_qcow2_becomes_raw(
    plugin_client: Any, tmp_path: Path, work_dir: Path
) -> None:
    client = await plugin_client(image_import_plugins=["image_conversion"])
    source = written_qcow2(tmp_path / "disk.qcow2")
    image = await imported(client, source.read_bytes(), disk_format="qcow2")
    assert image["status"] == "active", image["_tasks"]
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
    assert image["size"] == image["virtual_size"] == VIRTUAL
    raw = await downloaded(client, image["id"], tmp_path / "out.raw")
    run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source), str(raw))
    content = raw.read_bytes()
    assert image["checksum"] == md5(content)
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == hashlib.sha512(content).hexdigest()
    assert list(work_dir.iterdir()) == []  # the local copies are gone


async def test_web_download_qcow2_becomes_raw(
    plugin_client: Any, web: Web, tmp_path: Path, work_dir: Path
) -> None:
    client = await plugin_client(image_import_plugins=["image_conversion"])
    source = written_qcow2(tmp_path / "disk.qcow2")
    image_id = await new_image(client, disk_format="qcow2")
    body = {"method": {"name": "web-download", "uri": web.serve("/disk", source.read_bytes())}}
    assert (await start_import(client, image_id, body)).status_code == 202
    image = await settled(client, image_id)
    assert image["status"] == "active", image["_tasks"]
    assert image["disk_format"] == "raw"
    assert image["size"] == image["virtual_size"] == VIRTUAL
    raw = await downloaded(client, image_id, tmp_path / "out.raw")
    run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source), str(raw))
    assert image["checksum"] == md5(raw.read_bytes())
    assert list(work_dir.iterdir()) == []


async def test_conversion_to_qcow2(plugin_client: Any, tmp_path: Path) -> None:
    client = await plugin_client(
        image_import_plugins=["image_conversion"], image_conversion_output_format="qcow2"
    )
    data = os.urandom(1 << 20)
    image = await imported(client, data, disk_format="raw")
    assert image["status"] == "active", image["_tasks"]
    assert image["disk_format"] == "qcow2"
    assert image["virtual_size"] == len(data)
    out = await downloaded(client, image["id"], tmp_path / "out.qcow2")
    assert image["size"] == out.stat().st_size
    (tmp_path / "in.raw").write_bytes(data)
    run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", str(tmp_path / "in.raw"), str(out))


async def test_data_already_in_the_output_format_is_kept(
    plugin_client: Any, tmp_path: Path
) -> None:
    client = await plugin_client(image_import_plugins=["image_conversion"])
    data = os.urandom(300_000)
    image = await imported(client, data, disk_format="raw")
    assert image["status"] == "active"
    assert image["checksum"] == md5(data) and image["size"] == len(data)
    iso = tmp_path / "cd.iso"
    iso.write_bytes(b"\0" * 0x8001 + b"CD001" + b"\0" * 4000)
    kept = await imported(client, iso.read_bytes(), disk_format="iso")
    assert (kept["status"], kept["disk_format"]) == ("active", "iso"), kept["_tasks"]


def corrupt_qcow2(path: Path) -> Path:
    """A qcow2 whose header passes the format inspector but whose L1 table lies past any
    sane offset: qemu-img refuses to open it."""
    run("qemu-img", "create", "-f", "qcow2", str(path), "1M")
    with open(path, "r+b") as image:
        image.seek(40)
        image.write(struct.pack(">Q", 0x7FFFFFFFFFFF00))
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("backing-file", "failed safety checks"),
        ("corrupt", "Active L1 table offset invalid"),
        ("raw-claimed-qcow2", "disk_format is qcow2 but the data is raw"),
        ("qcow2-claimed-raw", "disk_format is raw but the data is qcow2"),
        ("iso-claimed-raw", "disk_format is raw but the data is an ISO"),
        ("qcow2-and-iso", "Multiple formats detected"),
    ],
)
async def test_unsafe_or_corrupt_data_is_refused(
    plugin_client: Any, tmp_path: Path, work_dir: Path, kind: str, expected: str
) -> None:
    client = await plugin_client(image_import_plugins=["image_conversion"])
    path = tmp_path / "bad.img"
    disk_format = "qcow2"
    if kind == "backing-file":
        (tmp_path / "base.raw").write_bytes(b"\0" * (1 << 20))
        base = str(tmp_path / "base.raw")
        run("qemu-img", "create", "-f", "qcow2", "-b", base, "-F", "raw", str(path))
    elif kind == "corrupt":
        corrupt_qcow2(path)
    elif kind == "raw-claimed-qcow2":
        path.write_bytes(os.urandom(1 << 20))
    elif kind == "qcow2-claimed-raw":
        written_qcow2(path)
        disk_format = "raw"
    elif kind == "qcow2-and-iso":
        run("qemu-img", "create", "-f", "qcow2", str(path), "1M")
        with open(path, "r+b") as image:
            image.seek(0x8001)
            image.write(b"CD001")
    else:
        path.write_bytes(b"\0" * 0x8001 + b"CD001" + b"\0" * 4000)
        disk_format = "raw"
    image = await imported(client, path.read_bytes(), disk_format=disk_format)
    message = failed(image)
    assert message.startswith("Image conversion failed: ")
    assert expected in message
    assert str(tmp_path) not in message  # no local path in what callers see
    assert image["disk_format"] == disk_format
    assert list(work_dir.iterdir()) == []


async def test_a_qcow2_whose_virtual_size_is_over_the_cap_is_refused_unconverted(
    plugin_client: Any, tmp_path: Path
) -> None:
    client = await plugin_client(image_import_plugins=["image_conversion"], image_size_cap=8 << 20)
    source = written_qcow2(tmp_path / "disk.qcow2")
    message = failed(await imported(client, source.read_bytes(), disk_format="qcow2"))
    assert f"virtual size of {VIRTUAL} bytes is over the image size cap" in message


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("backing-file", "images with a backing file are not allowed"),
        ("data-file", "images with an external data file are not allowed"),
        ("flat-vmdk", "VMDK create-type monolithicFlat is not allowed"),
    ],
)
async def test_qemu_img_info_is_a_second_line(tmp_path: Path, kind: str, expected: str) -> None:
    """What the format inspector refuses first, qemu-img info's checks refuse too."""
    path = tmp_path / "disk"
    if kind == "backing-file":
        (tmp_path / "base").write_bytes(b"\0" * 4096)
        run("qemu-img", "create", "-f", "qcow2", "-b", "base", "-F", "raw", str(path))
    elif kind == "data-file":
        data_file = f"data_file={tmp_path / 'ext'}"
        run("qemu-img", "create", "-f", "qcow2", "-o", data_file, str(path), "1M")
    else:
        run("qemu-img", "create", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(path), "1M")
    disk_format = "vmdk" if kind == "flat-vmdk" else "qcow2"
    conversion = Conversion(Settings(data_dir=tmp_path))
    with pytest.raises(JobFailed, match=expected):
        await conversion._checked_info(path, disk_format)


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        ("sleep 60", {"image_conversion_timeout_seconds": 1.0}, "did not finish within 1 s"),
        ("while :; do :; done", {"image_conversion_cpu_seconds": 1}, "its CPU time limit"),
    ],
)
async def test_a_runaway_qemu_img_is_stopped_and_the_import_fails(
    plugin_client: Any,
    tmp_path: Path,
    work_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    body: str,
    limit: dict[str, Any],
    expected: str,
) -> None:
    bin_dir = fake_qemu_img(tmp_path, body)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    client = await plugin_client(image_import_plugins=["image_conversion"], **limit)
    source = written_qcow2(tmp_path / "disk.qcow2")
    message = failed(await imported(client, source.read_bytes(), disk_format="qcow2"))
    assert message.startswith("Image conversion failed: qemu-img convert")
    assert expected in message
    assert gone(tmp_path / "pid")
    assert list(work_dir.iterdir()) == []


async def test_qemu_img_runs_within_its_memory_limit(plugin_client: Any, tmp_path: Path) -> None:
    client = await plugin_client(
        image_import_plugins=["image_conversion"], image_conversion_memory_mb=16
    )
    source = written_qcow2(tmp_path / "disk.qcow2")
    message = failed(await imported(client, source.read_bytes(), disk_format="qcow2"))
    assert message.startswith("Image conversion failed: qemu-img info")


async def test_the_work_space_bounds_the_converted_file(plugin_client: Any, tmp_path: Path) -> None:
    client = await plugin_client(
        image_import_plugins=["image_conversion"], image_import_work_dir_size=8 << 20
    )
    source = written_qcow2(tmp_path / "disk.qcow2")
    message = failed(await imported(client, source.read_bytes(), disk_format="qcow2"))
    assert "or the import work space" in message


# ------------------------------------------------------------------ decompression


def test_magic_numbers() -> None:
    assert detect(gzip.compress(b"x")) == "gzip"
    assert detect(bz2.compress(b"x")) == "bzip2"
    assert detect(b"BZh9 not bzip2 at all") is None
    assert detect(os.urandom(2) + b"-lh5-") == "lha"
    assert detect(b"\0" * 10) is None


async def test_data_that_is_not_compressed_passes_unchanged(plugin_client: Any) -> None:
    client = await plugin_client(image_import_plugins=["image_decompression", "no_op"])
    data = b"BZh9" + os.urandom(100_000)
    image = await imported(client, data)
    assert image["status"] == "active" and image["checksum"] == md5(data)


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "compress",
    [gzip.compress, bz2.compress, lzma.compress, lambda data: zipped(("disk.raw", data))],
    ids=["gzip", "bzip2", "xz", "zip"],
)
async def test_compressed_data_is_unpacked(
    plugin_client: Any, work_dir: Path, compress: Callable[[bytes], bytes]
) -> None:
    client = await plugin_client(image_import_plugins=["image_decompression"])
    data = os.urandom(2 << 20)
    image = await imported(client, compress(data))
    assert image["status"] == "active", image["_tasks"]
    assert image["size"] == len(data) and image["checksum"] == md5(data)
    assert list(work_dir.iterdir()) == []


async def test_a_compressed_container_stays_compressed(plugin_client: Any) -> None:
    client = await plugin_client(image_import_plugins=["image_decompression"])
    packed = gzip.compress(os.urandom(100_000))
    image = await imported(client, packed, container_format="compressed")
    assert image["status"] == "active"
    assert image["checksum"] == md5(packed)


async def test_decompressed_then_converted(plugin_client: Any, tmp_path: Path) -> None:
    client = await plugin_client(image_import_plugins=["image_decompression", "image_conversion"])
    source = written_qcow2(tmp_path / "disk.qcow2")
    image = await imported(client, gzip.compress(source.read_bytes()), disk_format="qcow2")
    assert (image["status"], image["disk_format"]) == ("active", "raw"), image["_tasks"]
    raw = await downloaded(client, image["id"], tmp_path / "out.raw")
    run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source), str(raw))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (gzip.compress(b"\0" * (20 << 20)), "unpacks to more than"),
        (zipped(("a", b"\0" * (20 << 20))), "unpacks to more than"),
        (zipped(("a", b"1"), ("b", b"2")), "holds 2 files, not one"),
        (gzip.compress(os.urandom(10_000))[:-100], "unreadable gzip data"),
        (b"\x00\x00-lh5-" + os.urandom(1000), "LHA archives are not supported"),
    ],
    ids=["gzip-bomb", "zip-bomb", "zip-of-two", "truncated-gzip", "lha"],
)
async def test_archives_that_cannot_be_unpacked_are_refused(
    plugin_client: Any, work_dir: Path, data: bytes, expected: str
) -> None:
    client = await plugin_client(
        image_import_plugins=["image_decompression"], image_size_cap=16 << 20
    )
    message = failed(await imported(client, data))
    assert message.startswith("Image decompression failed: ")
    assert expected in message
    assert list(work_dir.iterdir()) == []


# ---------------------------------------------------------------- injected metadata

INJECT = {"hw_watchdog_action": "reset", "company_image": "yes", "os_glance_stolen": "x"}


async def test_properties_are_injected_for_users_without_ignored_roles(
    plugin_client: Any,
) -> None:
    client = await plugin_client(
        image_import_plugins=["inject_image_metadata"], inject_metadata_properties=INJECT
    )
    image = await imported(client, os.urandom(1000))
    assert image["status"] == "active"
    assert image["hw_watchdog_action"] == "reset" and image["company_image"] == "yes"
    assert "os_glance_stolen" not in image
    # who asked is kept for the job, never shown
    (task,) = image["_tasks"]
    assert set(task["input"]) == {"image_id", "import_req", "backend", "all_stores_must_succeed"}


async def test_no_properties_for_users_with_an_ignored_role(plugin_client: Any) -> None:
    client = await plugin_client(
        image_import_plugins=["inject_image_metadata"], inject_metadata_properties=INJECT
    )
    image_id = await new_image(client)
    await stage(client, image_id, os.urandom(1000))
    assert (await start_import(client, image_id, DIRECT, admin())).status_code == 202
    image = await settled(client, image_id)
    assert image["status"] == "active"
    assert "company_image" not in image
    # the ignored roles are the operator's choice
    client = await plugin_client(
        image_import_plugins=["inject_image_metadata"],
        inject_metadata_properties=INJECT,
        inject_metadata_ignore_user_roles=["reviewer"],
    )
    image_id = await new_image(client)
    await stage(client, image_id, os.urandom(1000))
    await start_import(client, image_id, DIRECT, admin())
    assert (await settled(client, image_id))["company_image"] == "yes"


async def test_plugins_are_off_by_default(plugin_client: Any, tmp_path: Path) -> None:
    client = await plugin_client()
    packed = gzip.compress(os.urandom(100_000))
    image = await imported(client, packed)
    assert image["status"] == "active" and image["checksum"] == md5(packed)
    source = written_qcow2(tmp_path / "disk.qcow2")
    image = await imported(client, source.read_bytes(), disk_format="qcow2")
    assert (image["status"], image["disk_format"]) == ("active", "qcow2")
    assert image["size"] == source.stat().st_size
