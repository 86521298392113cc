"""The scrubber on its own: two scrubbers racing scrub each image once; the one-off
``glimpse image scrub`` command."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.images.removal import DataRemoval
from glimpse.images.scrubber import Scrubber
from glimpse.stores.registry import build_stores

OCTETS = {"Content-Type": "application/octet-stream"}


async def pending_images(client: httpx.AsyncClient, count: int) -> list[str]:
    made = []
    for _ in range(count):
        body = {"disk_format": "raw", "container_format": "bare"}
        image_id = (await client.post("/v2/images", json=body)).json()["id"]
        await client.put(f"/v2/images/{image_id}/file", content=b"x" * 100, headers=OCTETS)
        assert (await client.delete(f"/v2/images/{image_id}")).status_code == 204
        made.append(image_id)
    return made


async def test_two_scrubbers_scrub_each_image_once(make_client: Any, make_settings: Any) -> None:
    client = await make_client(delayed_delete=True)
    made = await pending_images(client, 6)
    settings: Settings = make_settings(delayed_delete=True, scrub_pool_size=3)
    nodes = []
    for _ in range(2):
        db = Database(settings.resolved_database_url, pool_size=2)
        nodes.append((db, Scrubber(db, DataRemoval(db, build_stores(settings)), settings)))
    try:
        first, second = await asyncio.gather(*(scrubber.run_once() for _, scrubber in nodes))
    finally:
        for db, _ in nodes:
            await db.aclose()
    assert sorted(first + second) == sorted(made)
    assert not set(first) & set(second)
    files = [p for p in (settings.data_dir / "images").rglob("*") if p.is_file()]
    assert files == []


async def test_scrub_command(make_client: Any, make_settings: Any, data_dir: Path) -> None:
    client = await make_client(delayed_delete=True)
    made = await pending_images(client, 2)
    settings = make_settings()
    env = {**os.environ, "GLIMPSE_DATABASE_URL": settings.resolved_database_url,
           "GLIMPSE_DATA_DIR": str(data_dir), "GLIMPSE_DELAYED_DELETE": "true"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "image", "scrub"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == sorted(["scrubbed"] * 2 + made)
