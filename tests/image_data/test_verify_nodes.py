"""The periodic verify across two nodes (server processes) over one database: passes
never overlap (one node verifies at a time) and follow each other at least an interval
apart, whichever node runs them; ``glimpse verify`` run meanwhile waits its turn (it is
turned away while a pass runs)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess
from tests.support.units import emptied

pytestmark = pytest.mark.slow

OCTETS = {"Content-Type": "application/octet-stream"}
INTERVAL = 0.5
# 3 images of 200 kB at 1 MB/s: a pass takes 0.6 s at least
RATE_MB_S = 1.0
IMAGES = 3
SIZE = 200_000
LINE = re.compile(r"^(\S+ \S+) INFO glimpse verify pass on (\S+): (started|\d+ images)")


def passes(log: str) -> list[tuple[datetime, datetime, str, str]]:
    """(start, end, node, what it checked) of each pass in a node's log."""
    found, started = [], None
    for line in log.splitlines():
        match = LINE.match(line)
        if match is None:
            continue
        when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        if match.group(3) == "started":
            started = when
        else:
            assert started is not None, log
            found.append((started, when, match.group(2), match.group(3)))
            started = None
    return found


async def test_two_nodes_run_each_pass_once(database_url: str, tmp_path: Path) -> None:
    async with emptied(database_url):
        pass  # what earlier tests left would be found (and fail the command)
    common = {
        "GLIMPSE_DATABASE_URL": database_url,
        "GLIMPSE_FILE_STORE_DIR": str(tmp_path / "shared-store"),
        "GLIMPSE_VERIFY_INTERVAL_SECONDS": str(INTERVAL),
        "GLIMPSE_VERIFY_RATE_LIMIT_MB_S": str(RATE_MB_S),
        "GLIMPSE_TASK_LEASE_SECONDS": "3",
    }
    for name in ("a", "b", "cli"):
        (tmp_path / name).mkdir()
    cli_env = {**common, "GLIMPSE_DATA_DIR": str(tmp_path / "cli"), "GLIMPSE_AUTH_MODE": "noauth"}
    refused = 0
    with (
        ServerProcess(tmp_path / "a", env=common) as node_a,
        ServerProcess(tmp_path / "b", env=common) as node_b,
        httpx.Client(base_url=node_a.url, timeout=30) as a,
    ):
        for n in range(IMAGES):
            body = {"name": f"v{n}", "disk_format": "raw", "container_format": "bare"}
            image_id = a.post("/v2/images", json=body).json()["id"]
            data = bytes([n]) * SIZE
            put = a.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)
            assert put.status_code == 204
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = passes(node_a.log()) + passes(node_b.log())
            if sum(1 for p in found if p[3] == f"{IMAGES} images") >= 4 and refused:
                break
            done = subprocess.run(
                [sys.executable, "-m", "glimpse", "verify"],
                env={**os.environ, **cli_env}, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            if done.returncode == 1:
                assert "verify is already running on" in done.stderr, done.stderr
                refused += 1
            else:
                assert done.returncode == 0, done.stderr + done.stdout
            time.sleep(0.2)
        logs = node_a.log() + node_b.log()
    assert refused, "the command never met a running pass"
    found = sorted(passes(node_a.log()) + passes(node_b.log()))
    full = [p for p in found if p[3] == f"{IMAGES} images"]
    assert len(full) >= 4, logs
    for before, after in itertools.pairwise(found):
        assert after[0] >= before[1], f"passes overlap: {before} and {after}"
        # the next periodic pass is due an interval after the last ended (log times are
        # to the millisecond)
        assert (after[0] - before[1]).total_seconds() >= INTERVAL - 0.002, (before, after)
    assert "verify failed" not in logs
