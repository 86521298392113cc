"""``/healthcheck``: Glance's public form, disable-by-file, and the detailed form for
admins or holders of the configured token."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

MEMBER = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "member,reader"}
ADMIN = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "admin,member,reader"}
PLAIN = {"Accept": "*/*"}


async def test_public_form_as_oslo_middleware(client: Any) -> None:
    plain = await client.get("/healthcheck", headers=PLAIN)
    assert (plain.status_code, plain.text) == (200, "OK")
    assert plain.headers["content-type"].startswith("text/plain")
    answer = await client.get("/healthcheck", headers={"Accept": "application/json"})
    assert answer.headers["content-type"] == "application/json"
    # byte for byte what Glance's (oslo.middleware's) healthcheck answers
    assert answer.text == '{\n    "detailed": false,\n    "reasons": [\n        "OK"\n    ]\n}'
    head = await client.head("/healthcheck")
    assert (head.status_code, head.content) == (204, b"")


async def test_disable_by_file_drains_the_node(make_client: Any, tmp_path: Path) -> None:
    switch = tmp_path / "drain-me"
    client = await make_client(healthcheck_disable_by_file_path=switch)
    answer = await client.get("/healthcheck", headers=PLAIN)
    assert (answer.status_code, answer.text) == (200, "OK")
    switch.touch()
    answer = await client.get("/healthcheck", headers=PLAIN)
    assert (answer.status_code, answer.text) == (503, "DISABLED BY FILE")
    answer = await client.get("/healthcheck", headers={"Accept": "application/json"})
    assert answer.json() == {"detailed": False, "reasons": ["DISABLED BY FILE"]}
    assert (await client.head("/healthcheck")).status_code == 503
    detailed = await client.get("/healthcheck?detailed", headers=ADMIN)
    assert detailed.json()["status"] == "DISABLED BY FILE"
    switch.unlink()
    assert (await client.get("/healthcheck")).status_code == 200


async def test_detailed_for_admins(make_client: Any) -> None:
    client = await make_client()
    refused = await client.get("/healthcheck?detailed", headers=MEMBER)
    assert refused.status_code == 403
    answer = await client.get("/healthcheck?detailed", headers=ADMIN)
    assert answer.status_code == 200
    report = answer.json()
    assert report["status"] == "OK"
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["stores"]["file"]["ok"] is True
    assert report["checks"]["notifications"]["enabled"] is False


async def test_detailed_with_the_configured_token(make_client: Any) -> None:
    client = await make_client(healthcheck_token="s3cret-probe")
    answer = await client.get(
        "/healthcheck?detailed", headers={**MEMBER, "X-Healthcheck-Token": "s3cret-probe"}
    )
    assert answer.status_code == 200
    wrong = await client.get(
        "/healthcheck?detailed", headers={**MEMBER, "X-Healthcheck-Token": "guess"}
    )
    assert wrong.status_code == 403


async def test_a_broken_store_fails_the_detailed_check(make_client: Any, tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    stores = {
        "good": {"type": "file", "directory": good},
        "bad": {"type": "file", "directory": bad},
    }
    client = await make_client(stores=stores)
    assert (await client.get("/healthcheck?detailed", headers=ADMIN)).status_code == 200
    shutil.rmtree(bad, ignore_errors=True)
    bad.write_text("not a directory")
    answer = await client.get("/healthcheck?detailed", headers=ADMIN)
    assert answer.status_code == 503
    report = answer.json()
    assert report["status"] == "FAILED"
    assert report["checks"]["stores"]["good"]["ok"] is True
    assert report["checks"]["stores"]["bad"]["ok"] is False
    assert "error" in report["checks"]["stores"]["bad"]
    # the public form stays Glance's (the node still serves what it can)
    assert (await client.get("/healthcheck")).status_code == 200


async def test_other_methods(make_client: Any) -> None:
    client = await make_client()
    answer = await client.post("/healthcheck")
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET, HEAD")
