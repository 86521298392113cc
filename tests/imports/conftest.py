"""Fixtures of the import tests: an app with import methods and two file stores, a
worker inside it, and small HTTP servers on 127.0.0.1 to download from."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.records import OCTETS, admin, caller, create_image
from tests.support.web import Web, reaching

OWNER = caller("owner")
METHODS = ["glance-direct", "web-download", "copy-image"]


@pytest.fixture
def import_settings(tmp_path: Path) -> dict[str, Any]:
    return {
        "stores": {
            "fast": {"type": "file", "directory": tmp_path / "fast", "weight": 100},
            "cheap": {"type": "file", "directory": tmp_path / "cheap"},
            "os_glance_staging_store": {"type": "file", "directory": tmp_path / "staging"},
        },
        "default_store": "fast",
        "enabled_import_methods": METHODS,
        "enforce_new_defaults": True,
        "task_lease_seconds": 3.0,
    }


@pytest.fixture
async def importer(make_client: Any, import_settings: dict[str, Any]) -> httpx.AsyncClient:
    made: httpx.AsyncClient = await make_client(**import_settings)
    return made


async def new_image(client: httpx.AsyncClient, **body: Any) -> str:
    fields = {"disk_format": "raw", "container_format": "bare", **body}
    image = await create_image(client, OWNER, **fields)
    image_id: str = image["id"]
    return image_id


async def stage(client: httpx.AsyncClient, image_id: str, data: bytes) -> httpx.Response:
    return await client.put(
        f"/v2/images/{image_id}/stage", content=data, headers={**OWNER, **OCTETS}
    )


async def start_import(
    client: httpx.AsyncClient,
    image_id: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(f"/v2/images/{image_id}/import", json=body, headers=headers or OWNER)


async def settled(client: httpx.AsyncClient, image_id: str, timeout: float = 20) -> dict[str, Any]:
    """The image once its import task has ended (success or failure)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        tasks = (await client.get(f"/v2/images/{image_id}/tasks", headers=admin())).json()
        ended = tasks["tasks"] and all(
            t["status"] in ("success", "failure") for t in tasks["tasks"]
        )
        if ended:
            image: dict[str, Any] = (
                await client.get(f"/v2/images/{image_id}", headers=admin())
            ).json()
            image["_tasks"] = tasks["tasks"]
            return image
        assert asyncio.get_running_loop().time() < deadline, tasks
        await asyncio.sleep(0.05)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
async def web_importer(
    make_client: Any, import_settings: dict[str, Any], web: Web
) -> httpx.AsyncClient:
    """An importer that may download from the test's server (allowed explicitly)."""
    made: httpx.AsyncClient = await make_client(
        **import_settings,
        **reaching(web),
        web_download_retries=1,
        web_download_read_timeout=1.0,
    )
    return made


# ------------------------------------------------------ qemu-img (Debian's qemu-utils)

VIRTUAL = 16 << 20


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, check=True, capture_output=True)


def written_qcow2(path: Path) -> Path:
    """A qcow2 of 16 MiB with two patterned extents (the rest unallocated)."""
    run("qemu-img", "create", "-f", "qcow2", str(path), str(VIRTUAL))
    run("qemu-io", "-c", "write -P 0xab 0 1M", "-c", "write -P 0x5c 9M 2M", str(path))
    return path


def fake_qemu_img(tmp_path: Path, body: str) -> Path:
    """A qemu-img first on the PATH that runs ``body`` for convert (the real one for
    the rest), recording its process id."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = shutil.which("qemu-img")
    script = bin_dir / "qemu-img"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = convert ]; then echo $$ > {tmp_path}/pid; {body}; fi\n'
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return bin_dir


def gone(pid_file: Path) -> bool:
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
