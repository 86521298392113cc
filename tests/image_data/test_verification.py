"""``glimpse verify`` against a real file store: a flipped byte, a removed file, a stray
object old enough to remove and one too young to; ``--fix`` deactivates the corrupted
image and removes the old stray only; ``--rate`` holds reading to its pace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from sqlalchemy import create_engine, select

from glimpse.db.tables import image_locations

OCTETS = {"Content-Type": "application/octet-stream"}
DAY = 86400


def path_of(database_url: str, image_id: str) -> Path:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            url = conn.execute(
                select(image_locations.c.url).where(image_locations.c.image_id == image_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return Path(unquote(urlparse(url).path))


def verify(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "verify", "--json", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def kinds(report: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in report["findings"]:
        found.setdefault(finding["kind"], set()).add(finding["image_id"] or finding["location"])
    return found


async def test_verify_finds_and_fixes(make_client: Any, make_settings: Any, data_dir: Path) -> None:
    client = await make_client()
    settings = make_settings()
    ids = {}
    for name in ("flipped", "removed", "intact"):
        body = {"name": name, "disk_format": "raw", "container_format": "bare"}
        image_id = (await client.post("/v2/images", json=body)).json()["id"]
        data = bytes(range(256)) * 400
        put = await client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
        assert put.status_code == 204
        ids[name] = image_id
    env = {
        "GLIMPSE_DATABASE_URL": settings.resolved_database_url,
        "GLIMPSE_DATA_DIR": str(data_dir),
    }
    status, report = verify(env)  # all well so far
    assert (status, report["images_checked"], report["findings"]) == (0, 3, [])

    flipped = path_of(settings.resolved_database_url, ids["flipped"])
    raw = bytearray(flipped.read_bytes())
    raw[5000] ^= 0x01
    flipped.write_bytes(bytes(raw))
    path_of(settings.resolved_database_url, ids["removed"]).unlink()
    store_dir = flipped.parent
    old_stray, young_stray = store_dir / "stray-old", store_dir / "stray-young"
    old_stray.write_bytes(b"nobody's")
    young_stray.write_bytes(b"nobody's either")
    long_ago = time.time() - 2 * DAY
    os.utime(old_stray, (long_ago, long_ago))

    status, report = verify(env)
    assert status == 3
    assert (report["corrupted"], report["missing"], report["orphans"]) == (1, 1, 2)
    found = kinds(report)
    assert found["corrupted"] == {ids["flipped"]}
    assert found["missing"] == {ids["removed"]}
    assert found["orphan"] == {old_stray.as_uri(), young_stray.as_uri()}
    [corrupted] = [f for f in report["findings"] if f["kind"] == "corrupted"]
    assert (
        "checksum differs" in corrupted["detail"] and "os_hash_value differs" in corrupted["detail"]
    )

    status, report = verify(env, "--fix")  # default grace: a day
    assert status == 3
    assert {f["location"] for f in report["findings"] if f["fixed"]} == {
        old_stray.as_uri(), corrupted["location"]
    }  # fmt: skip
    assert not old_stray.exists() and young_stray.exists()
    shown = (await client.get(f"/v2/images/{ids['flipped']}")).json()
    assert shown["status"] == "deactivated"
    assert (await client.get(f"/v2/images/{ids['intact']}")).json()["status"] == "active"

    status, report = verify(env)
    assert (report["corrupted"], report["missing"], report["orphans"]) == (1, 1, 1)


async def test_verify_keeps_to_its_rate(
    make_client: Any, make_settings: Any, data_dir: Path
) -> None:
    client = await make_client()
    body = {"disk_format": "raw", "container_format": "bare"}
    image_id = (await client.post("/v2/images", json=body)).json()["id"]
    data = b"r" * 300_000
    await client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
    env = {"GLIMPSE_DATABASE_URL": make_settings().resolved_database_url,
           "GLIMPSE_DATA_DIR": str(data_dir)}  # fmt: skip
    status, report = verify(env, "--rate", "0.2")  # 200 kB/s: 300 kB take 1.5 s at least
    assert status == 0 and report["bytes_read"] == len(data)
    assert report["seconds"] >= 0.9 * len(data) / 200_000


async def test_the_periodic_run_reports_through_metrics(
    make_client: Any, make_settings: Any
) -> None:
    import asyncio

    client = await make_client(metrics="admin", verify_interval_seconds=0.2)
    body = {"disk_format": "raw", "container_format": "bare"}
    image_id = (await client.post("/v2/images", json=body)).json()["id"]
    await client.put(f"/v2/images/{image_id}/file", content=b"p" * 1000, headers=OCTETS)
    path_of(make_settings().resolved_database_url, image_id).unlink()
    line = 'glimpse_verify_findings{kind="missing"} 1.0'
    for _ in range(50):
        await asyncio.sleep(0.1)
        if line in (await client.get("/metrics")).text:
            break
    assert line in (await client.get("/metrics")).text
