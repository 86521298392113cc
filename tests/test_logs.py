"""The logs an operator reads: one access line per request, text or JSON, and failed
logins with who tried and from where (never what they offered)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.builtin_callers import CHEAP_HASHES
from tests.support.server import ServerProcess


async def test_one_access_line_per_request(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caller = {"X-Project-Id": "proj-1", "X-User-Id": "user-1", "X-Roles": "member,reader"}
    with caplog.at_level(logging.INFO, logger="glimpse.access"):
        response = await client.get("/v2/images?limit=2", headers=caller)
        missing = await client.get("/v2/images/nope", headers=caller)
    lines = [r for r in caplog.records if r.name == "glimpse.access"]
    assert len(lines) == 2
    first = lines[0].getMessage()
    request_id = response.headers["x-openstack-request-id"]
    assert first.startswith(f"{request_id} user-1 proj-1 ")
    assert f'"GET /v2/images?limit=2" 200 {len(response.content)} ' in first
    assert first.endswith("ms")
    assert '"GET /v2/images/nope" 404' in lines[1].getMessage()
    assert missing.status_code == 404


async def test_access_log_can_be_off(make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client(access_log=False)
    with caplog.at_level(logging.INFO, logger="glimpse.access"):
        await client.get("/v2/images")
    assert [r for r in caplog.records if r.name == "glimpse.access"] == []


def test_json_lines_from_a_real_server_and_failed_logins(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(
        data,
        env={"GLIMPSE_AUTH_MODE": "builtin", "GLIMPSE_LOG_FORMAT": "json",
             **{f"GLIMPSE_{k.upper()}": str(v) for k, v in CHEAP_HASHES.items()}},
    )  # fmt: skip
    server.start()
    try:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": "mallory",
                            "domain": {"id": "default"},
                            "password": "s3cret-guess",
                        }
                    },
                }
            }
        }
        refused = httpx.post(f"{server.url}/identity/v3/auth/tokens", json=body)
        assert refused.status_code == 401
        httpx.get(f"{server.url}/v2/images")
    finally:
        server.stop()
    records = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert records, server.log()
    access = [r for r in records if r["logger"] == "glimpse.access"]
    assert {"request_id", "user_id", "project_id", "method", "path", "status", "bytes",
            "duration_ms"} <= set(access[-1])  # fmt: skip
    assert access[-1]["path"] == "/v2/images" and access[-1]["status"] == 401
    failed = [r for r in records if "failed login" in r["message"]]
    assert len(failed) == 1
    assert "mallory" in failed[0]["message"] and "127.0.0.1" in failed[0]["message"]
    assert "s3cret-guess" not in server.log()
    # every line is JSON, the HTTP server's included
    assert all(line.startswith("{") for line in server.log().splitlines() if line.strip())
