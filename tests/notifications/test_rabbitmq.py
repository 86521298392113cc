"""Notifications through a real RabbitMQ, as Glance 33 sends them: a create, upload,
download, share and delete cycle gives the events Glance gave for the same cycle (same
order, same payload keys, no locations); a broker that goes away or hangs never fails or
slows a request."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx

from tests.notifications.conftest import RABBIT_URL, Consumer
from tests.support.server import ServerProcess
from tests.support.tcp_proxy import TcpProxy

# What Glance 33 (messagingv2 driver, RabbitMQ) sent for the same cycle.
GLANCE_CYCLE = [
    "image.create", "image.update", "image.update", "image.prepare", "image.upload",
    "image.activate", "image.update", "image.send", "image.member.create",
    "image.member.update", "image.member.delete", "image.update", "image.update",
    "image.update", "image.delete",
]  # fmt: skip
ENVELOPE = {"event_type", "message_id", "payload", "priority", "publisher_id", "timestamp"}
IMAGE_KEYS = {
    "checksum", "container_format", "created_at", "deleted", "deleted_at", "disk_format",
    "id", "is_public", "min_disk", "min_ram", "name", "owner", "properties", "protected",
    "size", "status", "tags", "updated_at", "virtual_size", "visibility",
}  # fmt: skip
UPLOAD_KEYS = IMAGE_KEYS | {"os_glance_failed_import", "os_glance_importing_to_stores"}
MEMBER_KEYS = {"created_at", "deleted", "deleted_at", "image_id", "member_id", "status",
               "updated_at"}  # fmt: skip
SEND_KEYS = {"bytes_sent", "image_id", "owner_id", "receiver_tenant_id", "receiver_user_id"}
KEYS = {"image.prepare": UPLOAD_KEYS, "image.upload": UPLOAD_KEYS, "image.send": SEND_KEYS}

OWNER = {"X-Project-Id": "p1", "X-User-Id": "u1", "X-Roles": "admin,member,reader"}
MEMBER = {"X-Project-Id": "p2", "X-User-Id": "u2", "X-Roles": "member,reader"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}
DATA = b"x" * 1000
# Glance's disabled_notifications: event types, or a group (the part before the first dot)
MUTED = '["image.update", "image.member.create", "image.member.update", "image.member.delete"]'


def notifying(topic: str, url: str = RABBIT_URL, **more: str) -> dict[str, str]:
    return {
        "GLIMPSE_NOTIFICATION_DRIVER": "messagingv2",
        "GLIMPSE_NOTIFICATION_TRANSPORT_URL": url,
        "GLIMPSE_NOTIFICATION_TOPICS": f'["{topic}"]',
        **more,
    }


def cycle(client: httpx.Client) -> str:
    """The cycle Glance was driven through; the image's id."""
    body = {"name": "n", "disk_format": "raw", "container_format": "bare", "x_k": "v",
            "tags": ["t"]}  # fmt: skip
    image_id: str = client.post("/v2/images", json=body).json()["id"]
    path = f"/v2/images/{image_id}"
    ops = '[{"op": "add", "path": "/x_j", "value": "w"}]'
    assert client.patch(path, content=ops, headers=PATCH).status_code == 200
    assert client.put(f"{path}/file", content=DATA, headers=OCTETS).status_code == 204
    assert client.get(f"{path}/file").content == DATA
    assert client.post(f"{path}/members", json={"member": "p2"}).status_code == 200
    shared = client.put(f"{path}/members/p2", json={"status": "accepted"}, headers=MEMBER)
    assert shared.status_code == 200
    assert client.delete(f"{path}/members/p2").status_code == 204
    assert client.post(f"{path}/actions/deactivate").status_code == 204
    assert client.post(f"{path}/actions/reactivate").status_code == 204
    assert client.put(f"{path}/tags/t2").status_code == 204
    assert client.delete(path).status_code == 204
    return image_id


def test_a_cycle_sends_what_glance_sends(tmp_path: Path, consumer: Consumer) -> None:
    with (
        ServerProcess(tmp_path, env=notifying(consumer.topic)) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        image_id = cycle(client)
        events = consumer.wait(len(GLANCE_CYCLE))
    assert [event["event_type"] for event in events] == GLANCE_CYCLE
    for event in events:
        assert set(event) >= ENVELOPE, event
        assert event["publisher_id"] == "image.localhost"
        assert event["priority"] == "INFO"
        name, payload = event["event_type"], event["payload"]
        expected = KEYS.get(name, MEMBER_KEYS if name.startswith("image.member") else IMAGE_KEYS)
        assert set(payload) == expected, name
        assert "locations" not in payload and "direct_url" not in payload
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["event_type"], []).append(event["payload"])
    created = by_type["image.create"][0]
    assert (created["id"], created["status"], created["owner"]) == (image_id, "queued", "p1")
    assert (created["properties"], created["tags"], created["is_public"]) == ({"x_k": "v"}, ["t"],
                                                                              False)  # fmt: skip
    assert [p["status"] for p in by_type["image.update"]] == [
        "queued", "saving", "active", "deactivated", "active", "active"
    ]  # fmt: skip
    uploaded = by_type["image.upload"][0]
    assert (uploaded["status"], uploaded["size"]) == ("active", len(DATA))
    assert uploaded["checksum"] == hashlib.md5(DATA).hexdigest()
    assert by_type["image.send"] == [{
        "image_id": image_id, "owner_id": "p1", "receiver_tenant_id": "p1",
        "receiver_user_id": "u1", "bytes_sent": len(DATA),
    }]  # fmt: skip
    assert [p["status"] for p in by_type["image.member.update"]] == ["accepted"]
    assert by_type["image.member.delete"][0]["deleted"] is True
    deleted = by_type["image.delete"][0]
    assert (deleted["status"], deleted["deleted"]) == ("deleted", True)
    assert deleted["deleted_at"] is not None
    assert sorted(by_type["image.update"][-1]["tags"]) == ["t", "t2"]


def test_off_by_default_and_disabled_types(tmp_path: Path, consumer: Consumer) -> None:
    env = notifying(consumer.topic, GLIMPSE_DISABLED_NOTIFICATIONS=MUTED)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        ServerProcess(tmp_path / "a", env=env) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        cycle(client)
        consumer.wait(6)
    names = [event["event_type"] for event in consumer.settle()]
    assert names == [n for n in GLANCE_CYCLE if n != "image.update" and "member" not in n]
    with (
        ServerProcess(tmp_path / "b") as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        cycle(client)
    assert len(consumer.settle(2)) == len(names)  # the default sends nothing


def test_a_broker_gone_or_hung_never_holds_up_requests(tmp_path: Path, consumer: Consumer) -> None:
    """RabbitMQ unreachable (connections reset, port closed), then hanging (connections
    taken, nothing answered): every request still succeeds, each within the client's
    5-second timeout, and notifications resume once the broker is back."""
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.start()
    url = f"rabbit://guest:guest@127.0.0.1:{proxy.port}/"
    with (
        ServerProcess(tmp_path, env=notifying(consumer.topic, url)) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=5) as client,
    ):
        cycle(client)
        consumer.wait(len(GLANCE_CYCLE))
        proxy.cut()
        for _ in range(3):
            cycle(client)  # each request within 5 s, or httpx raises
        proxy.stalled = True
        proxy.start()
        for _ in range(3):
            cycle(client)
        proxy.cut()
        proxy.stalled = False
        proxy.start()
        # the sender reconnects by itself: a new image's create arrives
        image_id = client.post("/v2/images", json={"name": "after"}).json()["id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = [e for e in consumer.settle(1) if e["payload"].get("id") == image_id]
            if found:
                break
        assert found, "no notification after the broker came back"
    proxy.cut()
