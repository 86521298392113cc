"""Task and metadefs notifications through a real RabbitMQ, as Glance 33 sends them: a
create/update/delete cycle of each metadefs kind, and import tasks that succeed and fail,
give the events Glance gave for the same requests (same order, same payload keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.notifications.conftest import Consumer
from tests.notifications.test_rabbitmq import ENVELOPE, OCTETS, OWNER, notifying
from tests.support.server import ServerProcess

NS = "/v2/metadefs/namespaces"
DELETED = {"deleted", "deleted_at"}
TIMES = {"created_at", "updated_at"}
NAMESPACE_KEYS = {"namespace", "namespace_old", "display_name", "protected", "visibility",
                  "owner", "description"} | TIMES | DELETED  # fmt: skip
DEFINITION_KEYS = {
    "type", "title", "description", "default", "minimum", "maximum", "enum", "pattern",
    "minLength", "maxLength", "confidential", "items", "uniqueItems", "minItems", "maxItems",
    "additionalItems",
}  # fmt: skip
PROPERTY_KEYS = {"namespace", "name", "name_old"} | DEFINITION_KEYS | DELETED
OBJECT_KEYS = {"namespace", "name", "name_old", "properties", "required", "description"} | (
    TIMES | DELETED
)
TAG_KEYS = {"namespace", "name", "name_old"} | TIMES | DELETED
RESOURCE_TYPE_KEYS = TAG_KEYS | {"prefix", "properties_target"}
TASK_KEYS = {"id", "type", "status", "result", "owner", "message", "expires_at"} | (TIMES | DELETED)
KEYS = {
    "metadef_namespace": NAMESPACE_KEYS, "metadef_property": PROPERTY_KEYS,
    "metadef_object": OBJECT_KEYS, "metadef_tag": TAG_KEYS,
    "metadef_resource_type": RESOURCE_TYPE_KEYS, "task": TASK_KEYS,
}  # fmt: skip

# (request, the events Glance 33 sent for it), in order
METADEF_CYCLE: list[tuple[tuple[str, str, dict[str, Any] | None], list[str]]] = [
    (("POST", NS, {"namespace": "ns", "display_name": "D", "description": "d",
                   "visibility": "public"}), ["metadef_namespace.create"]),
    (("PUT", f"{NS}/ns", {"namespace": "ns2", "display_name": "D2", "visibility": "public"}),
     ["metadef_namespace.update"]),
    (("POST", f"{NS}/ns2/properties", {"name": "p1", "title": "P1", "type": "string"}),
     ["metadef_property.create"]),
    (("PUT", f"{NS}/ns2/properties/p1", {"name": "p2", "title": "P2", "type": "integer",
                                          "minimum": 1}), ["metadef_property.update"]),
    (("DELETE", f"{NS}/ns2/properties/p2", None), ["metadef_property.delete"]),
    (("POST", f"{NS}/ns2/objects", {"name": "o1", "description": "od", "required": ["x"],
                                     "properties": {"x": {"type": "string", "title": "X"}}}),
     ["metadef_object.create"]),
    (("PUT", f"{NS}/ns2/objects/o1", {"name": "o2", "properties": {
        "x": {"type": "string", "title": "X"},
        "y": {"type": "integer", "title": "Y", "minimum": 0}}}), ["metadef_object.update"]),
    (("DELETE", f"{NS}/ns2/objects/o2", None), ["metadef_object.delete"]),
    (("POST", f"{NS}/ns2/tags/t1", None), ["metadef_tag.create"]),
    (("PUT", f"{NS}/ns2/tags/t1", {"name": "t2"}), ["metadef_tag.update"]),
    (("DELETE", f"{NS}/ns2/tags/t2", None), ["metadef_tag.delete"]),
    (("POST", f"{NS}/ns2/tags", {"tags": [{"name": "a"}, {"name": "b"}]}),
     ["metadef_tag.create", "metadef_tag.create"]),
    (("POST", f"{NS}/ns2/resource_types", {"name": "OS::Glance::Image", "prefix": "hw_",
                                            "properties_target": "image"}),
     ["metadef_resource_type.create"]),
    (("DELETE", f"{NS}/ns2/resource_types/OS::Glance::Image", None),
     ["metadef_resource_type.delete"]),
    (("POST", f"{NS}/ns2/properties", {"name": "p3", "title": "P3", "type": "string"}),
     ["metadef_property.create"]),
    (("POST", f"{NS}/ns2/objects", {"name": "o3", "properties": {}}),
     ["metadef_object.create"]),
    (("DELETE", f"{NS}/ns2/properties", None), ["metadef_namespace.delete_properties"]),
    (("DELETE", f"{NS}/ns2/objects", None), ["metadef_namespace.delete_objects"]),
    (("DELETE", f"{NS}/ns2/tags", None), ["metadef_namespace.delete_tags"]),
    (("DELETE", f"{NS}/ns2", None), ["metadef_namespace.delete"]),
    # created in one piece: the namespace, then its resource types, objects, tags, properties
    (("POST", NS, {"namespace": "full",
                   "properties": {"fp": {"title": "FP", "type": "string"}},
                   "objects": [{"name": "fo", "properties": {"z": {"type": "string",
                                                                    "title": "Z"}}}],
                   "tags": [{"name": "ft"}],
                   "resource_type_associations": [{"name": "OS::Nova::Server",
                                                   "prefix": "s_"}]}),
     ["metadef_namespace.create", "metadef_resource_type.create", "metadef_object.create",
      "metadef_tag.create", "metadef_property.create"]),
    (("DELETE", f"{NS}/full", None), ["metadef_namespace.delete"]),  # nothing for its insides
]  # fmt: skip


def check_envelope(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert set(event) >= ENVELOPE, event
        assert (event["publisher_id"], event["priority"]) == ("image.localhost", "INFO")
        group = event["event_type"].split(".")[0]
        assert set(event["payload"]) == KEYS[group], event["event_type"]


def test_a_metadefs_cycle_sends_what_glance_sends(tmp_path: Path, consumer: Consumer) -> None:
    with (
        ServerProcess(tmp_path, env=notifying(consumer.topic)) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        expected: list[str] = []
        for (method, path, body), names in METADEF_CYCLE:
            answer = client.request(method, path, json=body)
            assert answer.status_code < 300, (method, path, answer.text)
            expected += names
        events = consumer.wait(len(expected))
    assert [event["event_type"] for event in consumer.settle()] == expected
    check_envelope(events)
    payloads = [event["payload"] for event in events]
    created, updated = payloads[0], payloads[1]
    assert (created["namespace"], created["namespace_old"], created["owner"]) == ("ns", "ns", "p1")
    assert (updated["namespace"], updated["namespace_old"]) == ("ns2", "ns")
    assert (updated["display_name"], updated["description"]) == ("D2", None)  # replaced
    prop = payloads[3]
    assert (prop["name"], prop["name_old"]) == ("p2", "p1")
    assert (prop["type"], prop["minimum"]) == ("integer", 1)
    assert (payloads[4]["deleted"], payloads[4]["namespace"]) == (True, "ns2")
    assert payloads[4]["deleted_at"] is not None
    obj = payloads[6]
    assert (obj["name"], obj["name_old"], obj["required"]) == ("o2", "o1", None)
    by_name = {p["name"]: p for p in obj["properties"]}
    assert set(by_name["y"]) == {"name"} | DEFINITION_KEYS
    assert (by_name["y"]["type"], by_name["y"]["minimum"]) == ("integer", None)  # 0: null
    assert payloads[7]["required"] == [] and payloads[7]["deleted"] is True  # as read back
    tag = payloads[9]
    assert (tag["name"], tag["name_old"]) == ("t2", "t1")
    assert [p["name"] for p in payloads[11:13]] == ["a", "b"]
    association = payloads[13]
    assert (association["name"], association["prefix"], association["properties_target"]) == (
        "OS::Glance::Image", "hw_", "image",
    )  # fmt: skip
    assert payloads[14]["deleted"] is True
    for index in (17, 18, 19):  # delete_properties/objects/tags: the namespace, not deleted
        assert (payloads[index]["namespace"], payloads[index]["deleted"]) == ("ns2", False)
    assert payloads[20]["deleted"] is True
    full = payloads[21:26]
    assert {p["namespace"] for p in full} == {"full"}
    assert [p.get("name") for p in full[1:]] == ["OS::Nova::Server", "fo", "ft", "fp"]
    assert all(p["created_at"] is not None for p in full if "created_at" in p)


def test_import_tasks_send_what_glance_sends(tmp_path: Path, consumer: Consumer) -> None:
    """A glance-direct import that succeeds: task.create, task.processing, task.success,
    task.run; one that fails (qcow2 declared, raw staged): task.create, task.processing,
    task.failure."""
    env = notifying(
        consumer.topic,
        GLIMPSE_ENABLED_IMPORT_METHODS='["glance-direct"]',
        GLIMPSE_DISABLED_NOTIFICATIONS='["image"]',
    )
    with (
        ServerProcess(tmp_path, env=env) as server,
        httpx.Client(base_url=server.url, headers=OWNER, timeout=30) as client,
    ):
        task_ids = []
        for disk_format in ("raw", "qcow2"):
            body = {"name": disk_format, "disk_format": disk_format, "container_format": "bare"}
            image_id = client.post("/v2/images", json=body).json()["id"]
            staged = client.put(f"/v2/images/{image_id}/stage", content=b"s" * 1000,
                                headers=OCTETS)  # fmt: skip
            assert staged.status_code == 204
            started = client.post(
                f"/v2/images/{image_id}/import", json={"method": {"name": "glance-direct"}}
            )
            assert started.status_code == 202, started.text
            events = consumer.wait(4 if disk_format == "raw" else 7)
            task_ids.append(client.get(f"/v2/images/{image_id}/tasks").json()["tasks"][0]["id"])
        events = consumer.settle()
    assert [event["event_type"] for event in events] == [
        "task.create", "task.processing", "task.success", "task.run",
        "task.create", "task.processing", "task.failure",
    ]  # fmt: skip
    check_envelope(events)
    payloads = [event["payload"] for event in events]
    assert [p["id"] for p in payloads] == [task_ids[0]] * 4 + [task_ids[1]] * 3
    # task.run carries the task as it was handed to its executor, as Glance's does
    assert [p["status"] for p in payloads] == [
        "pending", "processing", "success", "pending", "pending", "processing", "failure",
    ]  # fmt: skip
    for payload in payloads:
        assert (payload["type"], payload["owner"]) == ("api_image_import", "p1")
        assert (payload["result"], payload["message"], payload["deleted"]) == (None, None, False)
        assert payload["expires_at"] is not None  # Glance: "now" until it is set
        assert "input" not in payload
