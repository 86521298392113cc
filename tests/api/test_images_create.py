"""``POST /v2/images``: the image record as Glance creates it, and every refusal."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.support.records import VIEW_KEYS, admin, caller, create_image, show_image

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
KERNEL = "2f1d8d52-8c30-4a3c-a3a7-5a5ea0c2b0d1"


async def test_minimal_create_is_a_queued_record_with_glance_defaults(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v2/images", json={})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    image = response.json()
    assert list(image) == VIEW_KEYS
    image_id = image["id"]
    uuid.UUID(image_id)
    assert image == {
        "name": None,
        "disk_format": None,
        "container_format": None,
        "visibility": "shared",
        "size": None,
        "virtual_size": None,
        "status": "queued",
        "checksum": None,
        "protected": False,
        "min_ram": 0,
        "min_disk": 0,
        "owner": None,  # noauth: Glance's unauthenticated context has no project
        "os_hidden": False,
        "os_hash_algo": None,
        "os_hash_value": None,
        "id": image_id,
        "created_at": image["created_at"],
        "updated_at": image["created_at"],
        "tags": [],
        "self": f"/v2/images/{image_id}",
        "file": f"/v2/images/{image_id}/file",
        "schema": "/v2/schemas/image",
    }
    assert TIMESTAMP.match(image["created_at"])
    assert await show_image(client, image_id) == image


async def test_location_is_absolute_and_no_import_methods_header(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v2/images", json={"name": "x"})
    assert response.status_code == 201
    assert response.headers["location"] == f"http://glimpse.test/v2/images/{response.json()['id']}"
    # import is disabled (enabled_import_methods = []): Glance omits the empty header
    assert "openstack-image-import-methods" not in response.headers
    assert "openstack-image-store-ids" not in response.headers


async def test_import_methods_header_lists_configured_methods(make_client: Any) -> None:
    client = await make_client(enabled_import_methods=["glance-direct", "web-download"])
    response = await client.post("/v2/images", json={})
    assert response.status_code == 201
    assert response.headers["openstack-image-import-methods"] == "glance-direct,web-download"


async def test_every_settable_attribute_is_kept(client: httpx.AsyncClient) -> None:
    body = {
        "name": "cirros",
        "visibility": "private",
        "protected": True,
        "os_hidden": True,
        "container_format": "bare",
        "disk_format": "qcow2",
        "min_disk": 2,
        "min_ram": 512,
        "tags": ["b", "a"],
    }
    image = await create_image(client, **body)
    for name, value in body.items():
        if name != "tags":
            assert image[name] == value, name
    assert sorted(image["tags"]) == ["a", "b"]
    shown = await show_image(client, image["id"])
    # tags are a set: their order is not part of the contract
    assert {**shown, "tags": sorted(shown["tags"])} == {**image, "tags": ["a", "b"]}


async def test_extra_properties_come_first_in_body_order(client: httpx.AsyncClient) -> None:
    image = await create_image(client, zeta="1", name="n", alpha="2", os_distro="cirros")
    assert list(image) == ["zeta", "alpha", "os_distro", *VIEW_KEYS]
    assert (image["zeta"], image["alpha"], image["os_distro"]) == ("1", "2", "cirros")
    # read back, extra properties still come first, though not in the order they were
    # added (Glance's order; glimpse's property table does not record it)
    shown = list(await show_image(client, image["id"]))
    assert sorted(shown[:3]) == ["alpha", "os_distro", "zeta"]
    assert shown[3:] == VIEW_KEYS


async def test_content_type_of_the_body_is_not_checked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v2/images", content=b'{"name": "plain"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 201
    assert response.json()["name"] == "plain"


# ------------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    "image_id", ["b6a3b2f4-3e1c-4ad5-9b7e-0d1c2e3f4a5b", "ABCDEF00-0000-0000-0000-00000000000A"]
)
async def test_client_supplied_id_is_used(client: httpx.AsyncClient, image_id: str) -> None:
    image = await create_image(client, id=image_id)
    assert image["id"] == image_id
    assert (await show_image(client, image_id))["id"] == image_id


async def test_duplicate_id_is_409(client: httpx.AsyncClient) -> None:
    image_id = str(uuid.uuid4())
    await create_image(client, id=image_id, name="first")
    response = await client.post("/v2/images", json={"id": image_id, "name": "second"})
    assert response.status_code == 409
    assert (await show_image(client, image_id))["name"] == "first"


async def test_id_of_a_deleted_image_is_never_reused(client: httpx.AsyncClient) -> None:
    image_id = str(uuid.uuid4())
    await create_image(client, id=image_id)
    assert (await client.delete(f"/v2/images/{image_id}")).status_code == 204
    response = await client.post("/v2/images", json={"id": image_id})
    assert response.status_code == 409
    assert (await client.get(f"/v2/images/{image_id}")).status_code == 404


# --------------------------------------------------------------- refused bodies


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"[]", b'"image"', b"42", b"null", b"\xff\xfe{}"],
    ids=["empty", "malformed", "array", "string", "number", "null", "undecodable"],
)
async def test_body_that_is_not_a_json_object_is_400(
    client: httpx.AsyncClient, content: bytes
) -> None:
    response = await client.post(
        "/v2/images", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "name",
    # read-only base attributes, links, reserved names and the os_glance namespace
    ["created_at", "updated_at", "status", "checksum", "size", "virtual_size",
     "direct_url", "self", "file", "schema", "stores",
     "location", "locations", "deleted", "deleted_at", "os_glance_import_task",
     "os_glance"],
)  # fmt: skip
async def test_read_only_and_reserved_names_are_403(client: httpx.AsyncClient, name: str) -> None:
    value: Any = [] if name == "locations" else "queued" if name == "status" else "x"
    if name in ("size", "virtual_size"):
        value = 1
    response = await client.post("/v2/images", json={"name": "n", name: value})
    assert response.status_code == 403, response.text
    assert (await client.get("/v2/images")).json()["images"] == []


async def test_hashes_in_a_create_body_are_accepted_and_dropped(client: httpx.AsyncClient) -> None:
    # as Glance: a client that copies an image's view into a create body gets a new image,
    # and the hashes stay the server's to compute
    body = {"name": "n", "os_hash_algo": "sha512", "os_hash_value": "abc"}
    response = await client.post("/v2/images", json=body)
    assert response.status_code == 201
    created = response.json()
    assert created["os_hash_algo"] is None and created["os_hash_value"] is None
    response = await client.post("/v2/images", json={"name": "n", "os_hash_value": 5})
    assert response.status_code == 400  # still held to the schema


@pytest.mark.parametrize(
    "body",
    [
        {"name": 5},
        {"name": "n" * 256},
        {"visibility": "everyone"},
        {"protected": "yes"},
        {"os_hidden": 1},
        {"min_ram": "512"},
        {"min_disk": 1.5},
        {"container_format": "zip"},
        {"disk_format": "exe"},
        {"tags": "a,b"},
        {"tags": [1]},
        {"tags": ["t" * 256]},
        {"id": "not-a-uuid"},
        {"id": None},
        {"owner": 7},
        {"owner": "o" * 256},
        {"custom": 1},
        {"custom": None},
        {"custom": True},
        {"custom": ["a"]},
        {"kernel_id": "not-a-uuid"},
        {"os_distro": 22},
        {"cinder_encryption_key_deletion_policy": "sometimes"},
    ],
    ids=lambda body: "-".join(f"{k}={str(v)[:10]}" for k, v in body.items()),
)
async def test_schema_failures_are_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/v2/images", json=body)
    assert response.status_code == 400, response.text
    assert "does not match schema 'image'" in response.json()["message"]


async def test_custom_property_name_longer_than_255_is_400(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v2/images", json={"k" * 256: "v"})).status_code == 400
    image = await create_image(client, **{"k" * 255: "v"})
    assert image["k" * 255] == "v"


@pytest.mark.parametrize("name", ["min_ram", "min_disk"])
async def test_negative_minimums_are_400(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/v2/images", json={name: -1})
    assert response.status_code == 400
    assert "Cannot be a negative value" in response.json()["message"]
    assert (await create_image(client, **{name: 0}))[name] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # Glance checks: never-accepted keys, schema, custom key names, policy and
        # owner, tag quota, read-only attributes, minimums, property quota
        ({"self": 5}, 403),
        ({"status": "bogus"}, 400),
        ({"status": "active", "name": 5}, 400),
        ({"os_glance_x": 5}, 400),
        ({"os_glance" + "k" * 250: "v"}, 400),
        ({"deleted": "x", "k" * 256: "v"}, 403),
        ({"k" * 256: "v", "deleted": "x"}, 400),
        ({"status": "queued", "tags": [str(n) for n in range(129)]}, 413),
        ({"status": "queued", "min_ram": -1}, 403),
        ({"locations": [], "min_ram": -1}, 403),
    ],
    ids=lambda v: str(v)[:40],
)
async def test_checks_run_in_glance_order(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    assert (await client.post("/v2/images", json=body)).status_code == status


# ------------------------------------------------------------- owner, policies


async def test_caller_owns_what_it_creates(client: httpx.AsyncClient) -> None:
    image = await create_image(client, headers=caller("p1"))
    assert image["owner"] == "p1"
    explicit = await create_image(client, headers=caller("p1"), owner="p1")
    assert explicit["owner"] == "p1"


@pytest.mark.parametrize("owner", ["p2", None])
async def test_caller_cannot_create_for_another_owner(
    client: httpx.AsyncClient, owner: str | None
) -> None:
    response = await client.post("/v2/images", json={"owner": owner}, headers=caller("p1"))
    assert response.status_code == 403


async def test_admin_may_create_for_any_owner(client: httpx.AsyncClient) -> None:
    assert (await create_image(client, headers=admin(), owner="p2"))["owner"] == "p2"
    # the unauthenticated (noauth) context is admin too
    assert (await create_image(client, owner="p3"))["owner"] == "p3"


async def test_non_admin_without_a_project_cannot_create(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/images", json={}, headers={"X-Roles": "member"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("headers", "visibility", "status"),
    [
        (caller("p1"), "public", 403),
        ({}, "public", 403),  # noauth is admin but has no admin *role*
        (admin(), "public", 201),
        (caller("p1"), "community", 201),
        (caller("p1"), "private", 201),
        (caller("p1"), "shared", 201),
    ],
    ids=["caller-public", "noauth-public", "admin-public", "community", "private", "shared"],
)
async def test_visibility_policy_on_create(
    client: httpx.AsyncClient, headers: dict[str, str], visibility: str, status: int
) -> None:
    response = await client.post("/v2/images", json={"visibility": visibility}, headers=headers)
    assert response.status_code == status, response.text
    if status == 201:
        assert response.json()["visibility"] == visibility


# -------------------------------------------------------------------- quotas


async def test_property_quota(make_client: Any) -> None:
    client = await make_client(image_property_quota=2)
    assert (await client.post("/v2/images", json={"a": "1", "b": "2"})).status_code == 201
    response = await client.post("/v2/images", json={"a": "1", "b": "2", "c": "3"})
    assert response.status_code == 413
    # typed schema properties are additional properties too
    response = await client.post("/v2/images", json={"a": "1", "b": "2", "os_distro": "x"})
    assert response.status_code == 413


async def test_tag_quota_counts_tags_as_sent(make_client: Any) -> None:
    client = await make_client(image_tag_quota=2)
    assert (await client.post("/v2/images", json={"tags": ["a", "b"]})).status_code == 201
    assert (await client.post("/v2/images", json={"tags": ["a", "b", "c"]})).status_code == 413
    # Glance counts the list before it becomes a set
    assert (await client.post("/v2/images", json={"tags": ["a", "a", "b"]})).status_code == 413


async def test_negative_quotas_are_unlimited(make_client: Any) -> None:
    client = await make_client(image_property_quota=-1, image_tag_quota=-1)
    body: dict[str, Any] = {f"p{n}": "v" for n in range(200)}
    body["tags"] = [f"t{n}" for n in range(200)]
    image = await create_image(client, **body)
    assert len(image["tags"]) == 200
    assert image["p199"] == "v"


# ------------------------------------------------------------ tags, typed props


async def test_tags_are_deduplicated(client: httpx.AsyncClient) -> None:
    image = await create_image(client, tags=["b", "a", "b", "a", "c"])
    assert sorted(image["tags"]) == ["a", "b", "c"]
    assert sorted((await show_image(client, image["id"]))["tags"]) == ["a", "b", "c"]


async def test_typed_schema_property_may_be_null_and_stays_null(
    client: httpx.AsyncClient,
) -> None:
    image = await create_image(client, kernel_id=None, ramdisk_id=KERNEL, os_distro="cirros")
    assert image["kernel_id"] is None
    assert image["ramdisk_id"] == KERNEL
    shown = await show_image(client, image["id"])
    assert shown["kernel_id"] is None
    assert sorted(list(shown)[:3]) == ["kernel_id", "os_distro", "ramdisk_id"]


@pytest.mark.parametrize("policy", ["on_image_deletion", "do_not_delete"])
async def test_enumerated_schema_property(client: httpx.AsyncClient, policy: str) -> None:
    image = await create_image(client, cinder_encryption_key_deletion_policy=policy)
    assert image["cinder_encryption_key_deletion_policy"] == policy
