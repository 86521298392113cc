"""Several worker processes on one database: concurrent writes all succeed.

(Glance under uWSGI with two workers on SQLite answers some of these with 500
"database is locked"; glimpse's write transactions queue on the lock instead.)
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


def test_two_workers_concurrent_writes(database_url: str, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, env={"GLIMPSE_DATABASE_URL": database_url}, workers=2) as server:

        def lifecycle(index: int) -> list[int]:
            codes = []
            with httpx.Client(base_url=server.url, timeout=30) as http:
                created = http.post(
                    "/v2/images",
                    json={"name": f"w{index}", "disk_format": "raw", "container_format": "bare"},
                )
                codes.append(created.status_code)
                image_id = created.json()["id"]
                patched = http.patch(
                    f"/v2/images/{image_id}",
                    json=[{"op": "add", "path": "/os_distro", "value": "x"}],
                    headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
                )
                codes.append(patched.status_code)
                uploaded = http.put(
                    f"/v2/images/{image_id}/file",
                    content=b"x" * 10_000,
                    headers={"Content-Type": "application/octet-stream"},
                )
                codes.append(uploaded.status_code)
                codes.append(http.put(f"/v2/images/{image_id}/tags/t{index}").status_code)
                codes.append(http.delete(f"/v2/images/{image_id}").status_code)
            return codes

        with ThreadPoolExecutor(16) as pool:
            results = Counter(code for codes in pool.map(lifecycle, range(120)) for code in codes)
        assert results == Counter({201: 120, 200: 120, 204: 360}), results
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/v2/images?name=w1").json()["images"] == []
