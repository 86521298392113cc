"""Prometheus metrics: admin-only on the API port, or a separate listener that a real
Prometheus (Debian's) scrapes while two workers serve."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import ServerProcess, free_port

MEMBER = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "member,reader"}
ADMIN = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "admin,member,reader"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_admin_metrics_on_the_api_port(make_client: Any) -> None:
    client = await make_client(metrics="admin")
    before = samples((await client.get("/metrics", headers=ADMIN)).text)
    body = {"disk_format": "raw", "container_format": "bare"}
    image_id = (await client.post("/v2/images", json=body, headers=MEMBER)).json()["id"]
    path = f"/v2/images/{image_id}"
    data = b"d" * 3000
    upload = await client.put(
        f"{path}/file", content=data, headers={**MEMBER, "Content-Type": "application/octet-stream"}
    )
    assert upload.status_code == 204
    assert (await client.get(f"{path}/file", headers=MEMBER)).content == data
    assert (await client.get("/v2/images/nope", headers=MEMBER)).status_code == 404

    refused = await client.get("/metrics", headers=MEMBER)
    assert refused.status_code == 403
    scraped = await client.get("/metrics", headers=ADMIN)
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = samples(scraped.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "glimpse_http_requests_total"
    assert grew(requests, route="/v2/images", method="POST", status="201") == 1
    assert grew(requests, route="/v2/images/{image_id}/file", method="PUT", status="204") == 1
    assert grew(requests, route="/v2/images/{image_id}", method="GET", status="404") == 1
    assert grew(requests, route="/metrics", method="GET", status="403") == 1
    assert grew("glimpse_http_request_duration_seconds_count",
                route="/v2/images", method="POST", status="201") == 1  # fmt: skip
    assert grew("glimpse_http_received_bytes_total", route="/v2/images/{image_id}/file") == 3000
    assert grew("glimpse_http_sent_bytes_total", route="/v2/images/{image_id}/file") == 3000
    ops = "glimpse_store_operations_total"
    assert grew(ops, store="file", operation="write", outcome="ok") == 1
    assert grew(ops, store="file", operation="read", outcome="ok") == 1
    assert grew("glimpse_store_operation_duration_seconds_count", store="file",
                operation="write") == 1  # fmt: skip
    assert value(after, "glimpse_transfers_in_flight", direction="upload") == 0
    assert value(after, "glimpse_transfers_in_flight", direction="download") == 0
    assert value(after, "glimpse_images", status="active") == 1
    assert value(after, "glimpse_db_connections_in_use") >= 0


async def test_metrics_off_by_default(client: httpx.AsyncClient) -> None:
    # an unknown path: Glance's version negotiation answers with the versions (300)
    answer = await client.get("/metrics")
    assert answer.status_code == 300 and "glimpse_" not in answer.text


async def test_token_cache_hits_are_counted(make_client: Any, make_settings: Any) -> None:
    from tests.support.builtin_callers import CHEAP_HASHES, builtin_callers, create_accounts

    client = await make_client(auth_mode="builtin", metrics="admin", **CHEAP_HASHES)
    await create_accounts(make_settings().resolved_database_url)
    callers = await builtin_callers(client)
    for _ in range(3):
        assert (await client.get("/v2/images", headers=callers["admin"])).status_code == 200
    found = samples((await client.get("/metrics", headers=callers["admin"])).text)
    assert value(found, "glimpse_token_cache_lookups_total", result="hit") >= 3


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        reason = "no prometheus binary (.ci/backends/prometheus-install.sh installs Debian's)"
        if os.environ.get("GLIMPSE_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_prometheus_scrapes_two_workers(tmp_path: Path) -> None:
    binary = prometheus_binary()
    metrics_port = free_port()
    (tmp_path / "data").mkdir()
    env = {"GLIMPSE_METRICS": "listener", "GLIMPSE_METRICS_PORT": str(metrics_port)}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: glimpse\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{metrics_port}']\n"
    )
    port = free_port()
    with ServerProcess(tmp_path / "data", env=env, workers=2) as server:
        # the API port does not serve metrics in listener mode
        assert httpx.get(f"{server.url}/metrics").status_code == 300
        for _ in range(10):
            created = httpx.post(f"{server.url}/v2/images", json={"name": "m"}, headers=MEMBER)
            assert created.status_code == 201
        prometheus = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            query = 'sum(glimpse_http_requests_total{route="/v2/images",method="POST"})'
            answer = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    found = httpx.get(
                        f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}
                    ).json()
                except (httpx.HTTPError, ValueError):
                    found = {}
                result = found.get("data", {}).get("result", [])
                if result:
                    answer = float(result[0]["value"][1])
                    if answer == 10:
                        break
                time.sleep(0.5)
            assert answer == 10
            images = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/query",
                params={"query": 'glimpse_images{status="queued"}'},
            ).json()["data"]["result"]
            assert float(images[0]["value"][1]) == 10
        finally:
            prometheus.terminate()
            prometheus.wait(timeout=30)


def test_the_grafana_dashboard_uses_only_metrics_glimpse_has() -> None:
    import json
    import re

    dashboard = json.loads(
        (Path(__file__).parents[1] / "docs" / "grafana-dashboard.json").read_text()
    )
    names = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"glimpse_\w+", target["expr"])
    }
    from glimpse import metrics

    known = {"glimpse_images", "glimpse_jobs", "glimpse_jobs_oldest_pending_age_seconds"}
    for metric in vars(metrics).values():
        if hasattr(metric, "_name") and hasattr(metric, "_type"):
            base = metric._name
            known |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    assert names and names <= known, names - known


async def test_job_backlog_in_metrics_and_health(make_client: Any, make_settings: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import create_engine, insert

    from glimpse.clock import utcnow
    from glimpse.db.tables import tasks

    client = await make_client(metrics="admin", run_workers=False)
    engine = create_engine(make_settings().resolved_database_url)
    waited = utcnow() - timedelta(minutes=5)
    rows = [
        {"id": f"00000000-0000-0000-0000-00000000000{i}", "type": "import", "status": status,
         "input": "{}", "message": "", "bytes_done": 0, "attempts": 0, "created_at": waited,
         "updated_at": waited, "deleted": False}
        for i, status in enumerate(["pending", "pending", "failure"])
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(tasks), rows)
    engine.dispose()
    found = samples((await client.get("/metrics", headers=ADMIN)).text)
    assert value(found, "glimpse_jobs", status="pending") == 2
    assert value(found, "glimpse_jobs", status="failure") == 1
    assert value(found, "glimpse_jobs_oldest_pending_age_seconds") >= 290
    jobs = (await client.get("/healthcheck?detailed", headers=ADMIN)).json()["checks"]["jobs"]
    assert (jobs["pending"], jobs["failure"], jobs["processing"]) == (2, 1, 0)
    assert jobs["oldest_pending_seconds"] >= 290
