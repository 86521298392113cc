"""Delayed delete: a deleted image with data waits as ``pending_delete`` (hidden, its data
and metadata kept) until the scrubber removes it, once, whichever of two nodes claims
it; ``glimpse image restore`` brings it back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

OCTETS = {"Content-Type": "application/octet-stream"}
DATA = b"delayed delete " * 1000


def stored_files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def glimpse_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glimpse", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_delayed_delete_restore_and_scrub_across_two_nodes(
    database_url: str, tmp_path: Path
) -> None:
    store = tmp_path / "shared-store"
    common = {
        "GLIMPSE_DATABASE_URL": database_url,
        "GLIMPSE_FILE_STORE_DIR": str(store),
        "GLIMPSE_DELAYED_DELETE": "true",
        "GLIMPSE_SCRUB_TIME": "15",  # room for a restore from a slow CLI on a loaded machine
        "GLIMPSE_SCRUB_WAKEUP_TIME": "0.3",
        "GLIMPSE_SCRUB_POOL_SIZE": "2",
    }
    for name in ("a", "b", "cli"):
        (tmp_path / name).mkdir()
    cli_env = {**common, "GLIMPSE_DATA_DIR": str(tmp_path / "cli"), "GLIMPSE_AUTH_MODE": "noauth"}
    with (
        ServerProcess(tmp_path / "a", env=common) as node_a,
        ServerProcess(tmp_path / "b", env=common) as node_b,
        httpx.Client(base_url=node_a.url, timeout=30) as a,
        httpx.Client(base_url=node_b.url, timeout=30) as b,
    ):
        body = {"disk_format": "raw", "container_format": "bare", "tags": ["keep"], "x_p": "v"}
        image_id = a.post("/v2/images", json=body).json()["id"]
        assert a.put(f"/v2/images/{image_id}/file", content=DATA, headers=OCTETS).status_code == 204
        assert len(stored_files(store)) == 1

        assert b.delete(f"/v2/images/{image_id}").status_code == 204
        assert a.get(f"/v2/images/{image_id}").status_code == 404
        assert image_id not in [i["id"] for i in a.get("/v2/images").json()["images"]]
        assert len(stored_files(store)) == 1  # the data waits for the scrubber

        restored = glimpse_cli(cli_env, "image", "restore", image_id)
        assert restored.returncode == 0, restored.stderr
        shown = a.get(f"/v2/images/{image_id}").json()
        assert (shown["status"], shown["tags"], shown["x_p"]) == ("active", ["keep"], "v")
        assert b.get(f"/v2/images/{image_id}/file").content == DATA

        # an image without data is deleted at once, as Glance does
        empty = a.post("/v2/images", json={"name": "no data"}).json()["id"]
        assert a.delete(f"/v2/images/{empty}").status_code == 204
        again = glimpse_cli(cli_env, "image", "restore", empty)
        assert again.returncode == 1
        assert "deleted to active is not allowed" in again.stderr

        assert a.delete(f"/v2/images/{image_id}").status_code == 204
        deadline = time.monotonic() + 60
        while stored_files(store) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored_files(store) == []
        time.sleep(1)  # both scrubbers have looked again since
        logs = node_a.log() + node_b.log()
    assert logs.count(f"scrubbed image {image_id}") == 1
    late = glimpse_cli(cli_env, "image", "restore", image_id)
    assert late.returncode == 1
    assert "Image status transition from deleted to active is not allowed" in late.stderr
    missing = glimpse_cli(cli_env, "image", "restore", "no-such-image")
    assert missing.returncode == 1 and "No image found" in missing.stderr
