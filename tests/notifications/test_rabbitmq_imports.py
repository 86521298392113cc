"""Image notifications of imports through a real RabbitMQ, as Glance 33 sends them: a
stage gives two ``image.update``; a glance-direct import that succeeds gives, between its
task events, an update, prepare, upload, activate and two more updates; one that fails
inspection an ``image.upload`` at ERROR priority (a sentence) and an update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.notifications.conftest import Consumer
from tests.notifications.test_rabbitmq import (
    ENVELOPE,
    IMAGE_KEYS,
    OCTETS,
    OWNER,
    UPLOAD_KEYS,
    notifying,
)
from tests.support.server import ServerProcess

DATA = b"s" * 1000
# what Glance 33 sent for PUT /stage, then POST /import (glance-direct; web-download the same)
STAGED = ["image.update", "image.update"]
IMPORTED = [
    "task.create", "task.processing", "image.update", "image.prepare", "image.upload",
    "image.activate", "image.update", "image.update", "task.success", "task.run",
]  # fmt: skip
FAILED = [
    "task.create", "task.processing", "image.update", "image.prepare", "image.upload",
    "image.update", "task.failure",
]  # fmt: skip


def staged_import(client: httpx.Client, consumer: Consumer, disk_format: str) -> str:
    body = {"name": "n", "disk_format": disk_format, "container_format": "bare"}
    image_id: str = client.post("/v2/images", json=body).json()["id"]
    consumer.wait(1)
    consumer.events.clear()
    staged = client.put(f"/v2/images/{image_id}/stage", content=DATA, headers=OCTETS)
    assert staged.status_code == 204, staged.text
    started = client.post(f"/v2/images/{image_id}/import",
                          json={"method": {"name": "glance-direct"}})  # fmt: skip
    assert started.status_code == 202, started.text
    return image_id


def check(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The image events' payloads (envelope and keys checked)."""
    payloads = []
    for event in events:
        assert set(event) >= ENVELOPE, event
        name = event["event_type"]
        if not name.startswith("image."):
            continue
        payload = event["payload"]
        if event["priority"] == "ERROR":
            assert isinstance(payload, str), payload
        else:
            expected = UPLOAD_KEYS if name in ("image.prepare", "image.upload") else IMAGE_KEYS
            assert set(payload) == expected, name
        payloads.append(payload)
    return payloads


def test_a_glance_direct_import_sends_what_glance_sends(tmp_path: Path, consumer: Consumer) -> None:
    env = notifying(consumer.topic, GLIMPSE_ENABLED_IMPORT_METHODS='["glance-direct"]')
    with (
        ServerProcess(tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        image_id = staged_import(client, consumer, "raw")
        events = consumer.wait(len(STAGED + IMPORTED))
        events = consumer.settle()
    assert [e["event_type"] for e in events] == STAGED + IMPORTED
    assert all(e["priority"] == "INFO" for e in events)
    payloads = check(events)
    assert {p["id"] for p in payloads} == {image_id}
    assert [(p["status"], p["size"]) for p in payloads[:2]] == [
        ("uploading", None), ("uploading", len(DATA)),
    ]  # fmt: skip
    assert [p["status"] for p in payloads[2:]] == [
        "importing", "importing", "active", "active", "active", "active",
    ]  # fmt: skip
    prepared, uploaded = payloads[3], payloads[4]
    assert prepared["checksum"] is None
    assert uploaded["checksum"] == "89672db46d459abd6a9a05afe5973891"  # Glance's, same bytes
    assert payloads[-1]["checksum"] == uploaded["checksum"]
    assert (uploaded["os_glance_importing_to_stores"], uploaded["os_glance_failed_import"]) == (
        [], [],
    )  # fmt: skip


def test_a_failed_import_sends_what_glance_sends(tmp_path: Path, consumer: Consumer) -> None:
    """qcow2 declared, raw staged: the inspection refuses the data."""
    env = notifying(consumer.topic, GLIMPSE_ENABLED_IMPORT_METHODS='["glance-direct"]')
    with (
        ServerProcess(tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        image_id = staged_import(client, consumer, "qcow2")
        consumer.wait(len(STAGED + FAILED))
        events = consumer.settle()
    assert [e["event_type"] for e in events] == STAGED + FAILED
    assert [e["priority"] for e in events[2:]] == ["INFO"] * 4 + ["ERROR", "INFO", "INFO"]
    payloads = check(events)
    failure = payloads[4]
    assert failure.startswith(
        f"Failed to upload image data for image {image_id} due to internal error: "
    ), failure
    assert "qcow2" in failure
    assert payloads[-1]["status"] == "queued"  # glimpse returns the image to queued
