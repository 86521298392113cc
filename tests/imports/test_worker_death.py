"""A worker killed mid-import (SIGKILL, a real ``glimpse worker`` process): another
worker resumes the task within the lease time, the import completes, and nothing the
dead worker half-wrote stays in any store."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.imports.conftest import (
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


def _settings_env(settings: dict[str, Any], database_url: str, data_dir: Path) -> dict[str, str]:
    stores = {
        name: {**section, "directory": str(section["directory"])}
        for name, section in settings["stores"].items()
    }
    return {
        **os.environ,
        "GLIMPSE_DATABASE_URL": database_url,
        "GLIMPSE_DATA_DIR": str(data_dir),
        "GLIMPSE_AUTH_MODE": "noauth",
        "GLIMPSE_STORES": json.dumps(stores),
        "GLIMPSE_DEFAULT_STORE": settings["default_store"],
        "GLIMPSE_ENABLED_IMPORT_METHODS": json.dumps(settings["enabled_import_methods"]),
        "GLIMPSE_TASK_LEASE_SECONDS": str(settings["task_lease_seconds"]),
        "GLIMPSE_IMPORT_ALLOWED_HOSTS": json.dumps(settings["import_allowed_hosts"]),
        "GLIMPSE_IMPORT_ALLOWED_PORTS": json.dumps(settings["import_allowed_ports"]),
    }


async def test_a_killed_worker_s_import_is_resumed_within_the_lease(
    make_client: Any,
    import_settings: dict[str, Any],
    database_url: str,
    tmp_path: Path,
    web: Web,
) -> None:
    data = os.urandom(1 << 20)
    first = threading.Event()

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if not first.is_set():
            first.set()  # the first fetch crawls: its worker is killed meanwhile
            for start in range(0, len(data), 4096):
                handler.wfile.write(data[start : start + 4096])
                time.sleep(0.2)
            return
        handler.wfile.write(data)

    web.routes["/slow"] = trickle
    settings = {
        **import_settings,
        "import_allowed_hosts": ["127.0.0.1"],
        "import_allowed_ports": [web.port],
        "task_lease_seconds": 2.0,
    }
    api = await make_client(**{**settings, "run_workers": False})
    image_id = await new_image(api)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "glimpse", "worker"],
        env=_settings_env(settings, database_url, tmp_path / "worker-data"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = {"method": {"name": "web-download", "uri": web.url("/slow")}}
        assert (await start_import(api, image_id, body)).status_code == 202
        deadline = time.monotonic() + 30
        while True:  # until the worker process is fetching, and says how far it got
            (task,) = (await api.get(f"/v2/images/{image_id}/tasks", headers=admin())).json()[
                "tasks"
            ]
            if task["status"] == "processing" and task["message"].startswith("Copied"):
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            await asyncio.sleep(0.1)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        killed_at = time.monotonic()
        shown = (await api.get(f"/v2/images/{image_id}", headers=admin())).json()
        assert shown["status"] == "importing"
        assert len(partial_files(settings)) == 1  # what it was fetching into
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    # another node's worker takes over once the lease has run out
    await make_client(**settings)
    image = await settled(api, image_id, timeout=30)
    assert image["status"] == "active", image
    assert image["checksum"] == md5(data)
    (task,) = image["_tasks"]
    assert task["status"] == "success"
    assert time.monotonic() - killed_at < 2.0 + 10  # the lease, plus the transfer
    assert partial_files(settings) == []


def partial_files(settings: dict[str, Any]) -> list[Path]:
    """Half-written objects in any of the stores (the file store's ``.part`` files)."""
    return [
        path
        for section in settings["stores"].values()
        if Path(section["directory"]).is_dir()
        for path in Path(section["directory"]).iterdir()
        if path.name.endswith(".part")
    ]


@pytest.mark.skipif(
    shutil.which("qemu-img") is None and os.environ.get("GLIMPSE_TEST_REQUIRE_QEMU_IMG") != "1",
    reason="qemu-img (Debian's qemu-utils) is not installed",
)
async def test_a_worker_killed_mid_conversion_leaves_nothing_behind(
    make_client: Any,
    import_settings: dict[str, Any],
    database_url: str,
    tmp_path: Path,
) -> None:
    work_dir = tmp_path / "work"
    plugins = {"image_import_plugins": ["image_conversion"], "image_import_work_dir": work_dir}
    settings = {
        **import_settings,
        **plugins,
        "import_allowed_hosts": [],
        "import_allowed_ports": [80],
        "task_lease_seconds": 2.0,
    }
    api = await make_client(**{**settings, "run_workers": False})
    source = written_qcow2(tmp_path / "disk.qcow2")
    image_id = await new_image(api, disk_format="qcow2")
    assert (await stage(api, image_id, source.read_bytes())).status_code == 204
    # the first worker's qemu-img convert hangs; the worker is killed meanwhile
    bin_dir = fake_qemu_img(tmp_path, "exec sleep 600")
    env = {
        **_settings_env(settings, database_url, tmp_path / "worker-data"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GLIMPSE_IMAGE_IMPORT_PLUGINS": json.dumps(plugins["image_import_plugins"]),
        "GLIMPSE_IMAGE_IMPORT_WORK_DIR": str(work_dir),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "glimpse", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pid_file = tmp_path / "pid"
    try:
        assert (await start_import(api, image_id, {"method": {"name": "glance-direct"}})).is_success
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            await asyncio.sleep(0.1)
        assert [p.name[:7] for p in work_dir.iterdir()] == ["import-"]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    # its qemu-img (in a process group of its own) dies with it
    deadline = time.monotonic() + 5
    while not gone(pid_file):
        assert time.monotonic() < deadline, "qemu-img outlived its worker"
        await asyncio.sleep(0.05)
    # another worker on the node resumes the import and sweeps the dead one's directory
    await make_client(**settings)
    image = await settled(api, image_id, timeout=30)
    assert (image["status"], image["disk_format"]) == ("active", "raw"), image
    raw = tmp_path / "out.raw"
    raw.write_bytes((await api.get(f"/v2/images/{image_id}/file", headers=admin())).content)
    run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", str(source), str(raw))
    assert list(work_dir.iterdir()) == []
