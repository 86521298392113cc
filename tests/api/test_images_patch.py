"""``PATCH /v2/images/{id}`` in both JSON-patch media types, and every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.records import (
    V20,
    V21,
    VIEW_KEYS,
    Records,
    admin,
    caller,
    create_image,
    make_active,
    patch_image,
    show_image,
)

ACCEPT_PATCH = f"{V20}, {V21}"
KERNEL = "2f1d8d52-8c30-4a3c-a3a7-5a5ea0c2b0d1"
LOCATION = {"url": "file:///tmp/x", "metadata": {}}


def op(kind: str, path: str, value: Any = None, *, v20: bool = False) -> dict[str, Any]:
    """One operation, in the v2.1 form or the legacy v2.0 one."""
    found: dict[str, Any] = {kind: path} if v20 else {"op": kind, "path": path}
    if kind != "remove":
        found["value"] = value
    return found


async def patched(
    client: httpx.AsyncClient, image_id: str, ops: list[dict[str, Any]], media_type: str = V21
) -> dict[str, Any]:
    response = await patch_image(client, image_id, ops, media_type=media_type)
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


# ---------------------------------------------------------------- media types


@pytest.mark.parametrize("media_type", [V21, V20, f"{V21}; charset=UTF-8"])
async def test_both_media_types_apply(client: httpx.AsyncClient, media_type: str) -> None:
    image = await create_image(client, name="old")
    v20 = media_type == V20
    ops = [op("replace", "/name", "new", v20=v20), op("add", "/os_distro", "cirros", v20=v20)]
    updated = await patched(client, image["id"], ops, media_type)
    assert (updated["name"], updated["os_distro"]) == ("new", "cirros")
    assert await show_image(client, image["id"]) == updated


@pytest.mark.parametrize(
    "media_type",
    [
        "application/json",
        "application/json-patch+json",
        "APPLICATION/OPENSTACK-IMAGES-V2.1-JSON-PATCH",  # Glance compares exactly
        "application/openstack-images-v2.2-json-patch",
        None,
    ],
)
async def test_other_media_types_are_415(client: httpx.AsyncClient, media_type: str | None) -> None:
    image = await create_image(client, name="kept")
    headers = {} if media_type is None else {"Content-Type": media_type}
    response = await client.patch(f"/v2/images/{image['id']}", content=b"[]", headers=headers)
    assert response.status_code == 415
    assert response.headers["accept-patch"] == ACCEPT_PATCH


async def test_415_comes_before_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(
        "/v2/images/00000000-0000-4000-8000-000000000000",
        json=[],
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 415


async def test_empty_patch_returns_the_unchanged_image(
    client: httpx.AsyncClient, records: Records
) -> None:
    stored = records.add_image(name="n", created_at=datetime(2020, 1, 1))
    before = await show_image(client, stored.id)
    for media_type in (V21, V20):
        assert await patched(client, stored.id, [], media_type) == before
    assert await show_image(client, stored.id) == before


async def test_patch_changes_updated_at_only(client: httpx.AsyncClient, records: Records) -> None:
    stored = records.add_image(name="n", created_at=datetime(2020, 1, 1))
    updated = await patched(client, stored.id, [op("replace", "/name", "m")])
    assert updated["created_at"] == "2020-01-01T00:00:00Z"
    assert updated["updated_at"] > "2020-01-01T00:00:00Z"
    assert list(updated) == VIEW_KEYS


# ------------------------------------------------------------- malformed bodies


@pytest.mark.parametrize(
    ("media_type", "content"),
    [
        (V21, b""),
        (V21, b"[x"),
        (V21, b'{"op": "add", "path": "/a", "value": "b"}'),
        (V21, b'["op"]'),
        (V21, b"[[]]"),
        (V20, b"{}"),
    ],
    ids=["empty", "malformed", "object", "string-op", "list-op", "v20-object"],
)
async def test_body_that_is_not_a_list_of_objects_is_400(
    client: httpx.AsyncClient, media_type: str, content: bytes
) -> None:
    image = await create_image(client)
    response = await client.patch(
        f"/v2/images/{image['id']}", content=content, headers={"Content-Type": media_type}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("media_type", "operation"),
    [
        (V21, {"path": "/name", "value": "x"}),
        (V21, {"op": "move", "from": "/a", "path": "/name"}),
        (V21, {"op": "copy", "from": "/a", "path": "/name"}),
        (V21, {"op": "test", "path": "/name", "value": "x"}),
        (V21, {"op": "bogus", "path": "/name", "value": "x"}),
        (V21, {"op": None, "path": "/name", "value": "x"}),
        (V21, {"op": "add", "value": "x"}),
        (V21, {"op": "add", "path": "/name"}),
        (V21, {"op": "replace", "path": "/name"}),
        (V20, {"value": "x"}),
        (V20, {"add": "/a", "replace": "/b", "value": "x"}),
        (V20, {"op": "add", "path": "/name", "value": "x"}),
        (V20, {"add": "/name"}),
        (V20, {"replace": "/name"}),
    ],
    ids=lambda v: str(v)[:40],
)
async def test_bad_operation_is_400(
    client: httpx.AsyncClient, media_type: str, operation: dict[str, Any]
) -> None:
    image = await create_image(client, name="kept")
    response = await patch_image(client, image["id"], [operation], media_type=media_type)
    assert response.status_code == 400
    assert (await show_image(client, image["id"]))["name"] == "kept"


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("add", "name"),
        ("add", "/a//b"),
        ("add", "/a/"),
        ("add", "/a~2"),
        ("add", "/a~"),
        ("add", "/a/b"),
        ("add", "/tags/-"),  # appending to tags is not supported
        ("add", "/locations"),
        ("remove", "/locations"),
        ("replace", "/locations/0"),
        ("add", "/locations/0/url"),
        ("add", 5),
    ],
)
async def test_bad_pointer_is_400(client: httpx.AsyncClient, kind: str, path: Any) -> None:
    image = await create_image(client)
    value = LOCATION if "locations" in str(path) else "x"
    response = await patch_image(client, image["id"], [{"op": kind, "path": path, "value": value}])
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/a~1b", "a/b"),
        ("/a~0b", "a~b"),
        # Glance strips each segment and drops leading slashes
        ("/ spaced ", "spaced"),
        ("//double", "double"),
        ("/", ""),
    ],
)
async def test_pointer_decoding(client: httpx.AsyncClient, path: str, name: str) -> None:
    image = await create_image(client)
    assert (await patched(client, image["id"], [op("add", path, "v")]))[name] == "v"


async def test_stripped_pointer_reaches_base_attributes(client: httpx.AsyncClient) -> None:
    image = await create_image(client, name="old")
    assert (await patched(client, image["id"], [op("replace", "/name ", "new")]))["name"] == "new"


# --------------------------------------------------------- read-only, reserved

READ_ONLY = ["created_at", "updated_at", "status", "checksum", "size", "virtual_size",
             "direct_url", "self", "file", "schema", "id", "os_hash_algo",
             "os_hash_value"]  # fmt: skip
RESERVED = ["location", "deleted", "deleted_at", "os_glance_import_task", "os_glance"]


@pytest.mark.parametrize("name", READ_ONLY + RESERVED)
async def test_read_only_and_reserved_paths_are_403(client: httpx.AsyncClient, name: str) -> None:
    image = await create_image(client, name="kept")
    for kind in ("add", "replace", "remove"):
        # a value the schema refuses too: the 403 comes first
        response = await patch_image(client, image["id"], [op(kind, f"/{name}", 5)])
        assert response.status_code == 403, (kind, response.text)
    assert await show_image(client, image["id"]) == image


async def test_stores_is_an_ordinary_property_in_a_patch(client: httpx.AsyncClient) -> None:
    # `stores` is refused on create only (Glance)
    image = await create_image(client)
    assert (await patched(client, image["id"], [op("add", "/stores", "x")]))["stores"] == "x"


# ------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/name", 5),
        ("/name", "n" * 256),
        ("/visibility", "everyone"),
        ("/protected", "true"),
        ("/os_hidden", None),
        ("/min_ram", "1"),
        ("/min_disk", 1.5),
        ("/disk_format", "exe"),
        ("/container_format", "zip"),
        ("/owner", 5),
        ("/tags", "a"),
        ("/tags", ["t" * 256]),
        ("/custom", 5),
        ("/custom", None),
        ("/kernel_id", "nope"),
        ("/os_distro", ["x"]),
        ("/cinder_encryption_key_deletion_policy", "later"),
    ],
)
async def test_schema_failures_are_400(client: httpx.AsyncClient, path: str, value: Any) -> None:
    image = await create_image(client, custom="c", os_distro="d", kernel_id=KERNEL)
    for kind in ("add", "replace"):
        response = await patch_image(client, image["id"], [op(kind, path, value)])
        assert response.status_code == 400, (kind, response.text)
        assert "does not match schema 'image'" in response.json()["message"]


@pytest.mark.parametrize("name", ["min_ram", "min_disk"])
async def test_negative_minimums_are_400(client: httpx.AsyncClient, name: str) -> None:
    image = await create_image(client)
    response = await patch_image(client, image["id"], [op("replace", f"/{name}", -1)])
    assert response.status_code == 400
    assert (await patched(client, image["id"], [op("replace", f"/{name}", 7)]))[name] == 7


async def test_typed_schema_property_may_be_set_to_null(client: httpx.AsyncClient) -> None:
    image = await create_image(client, kernel_id=KERNEL)
    updated = await patched(client, image["id"], [op("replace", "/kernel_id", None)])
    assert updated["kernel_id"] is None
    added = await patched(client, image["id"], [op("add", "/ramdisk_id", None)])
    assert added["ramdisk_id"] is None
    assert (await show_image(client, image["id"]))["ramdisk_id"] is None


# ---------------------------------------------- add / replace / remove semantics


async def test_extra_properties_add_replace_remove(client: httpx.AsyncClient) -> None:
    image = await create_image(client, keep="k", change="c", drop="d")
    updated = await patched(
        client,
        image["id"],
        [op("add", "/new", "n"), op("replace", "/change", "C"), op("remove", "/drop")],
    )
    assert {k: updated.get(k) for k in ("keep", "change", "drop", "new")} == {
        "keep": "k", "change": "C", "drop": None, "new": "n"
    }  # fmt: skip
    assert "drop" not in updated
    assert await show_image(client, image["id"]) == updated


async def test_add_of_an_existing_property_overwrites_in_v21(client: httpx.AsyncClient) -> None:
    image = await create_image(client, name="n", extra="e")
    updated = await patched(
        client, image["id"], [op("add", "/extra", "E"), op("add", "/name", "N")]
    )
    assert (updated["extra"], updated["name"]) == ("E", "N")


@pytest.mark.parametrize("path", ["/extra", "/name", "/tags", "/min_ram", "/visibility"])
async def test_add_of_an_existing_property_is_409_in_v20(
    client: httpx.AsyncClient, path: str
) -> None:
    image = await create_image(client, extra="e", name="n")
    value: Any = {"/tags": ["t"], "/min_ram": 1, "/visibility": "private"}.get(path, "v")
    response = await patch_image(
        client, image["id"], [op("add", path, value, v20=True)], media_type=V20
    )
    assert response.status_code == 409
    assert await show_image(client, image["id"]) == image


async def test_v20_add_of_a_new_property(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    ops = [op("add", "/new", "n", v20=True), op("remove", "/new", v20=True)]
    updated = await patched(client, image["id"], ops, V20)
    assert "new" not in updated


@pytest.mark.parametrize("media_type", [V21, V20])
async def test_replace_of_a_missing_property_is_409(
    client: httpx.AsyncClient, media_type: str
) -> None:
    image = await create_image(client)
    ops = [op("replace", "/missing", "x", v20=media_type == V20)]
    response = await patch_image(client, image["id"], ops, media_type=media_type)
    assert response.status_code == 409


async def test_remove_of_a_missing_property_is_409(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    assert (await patch_image(client, image["id"], [op("remove", "/missing")])).status_code == 409


@pytest.mark.parametrize(
    "name",
    ["name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
     "min_disk", "min_ram", "owner", "tags"],
)  # fmt: skip
async def test_remove_of_a_base_attribute_is_403(client: httpx.AsyncClient, name: str) -> None:
    image = await create_image(client, name="n")
    assert (await patch_image(client, image["id"], [op("remove", f"/{name}")])).status_code == 403


async def test_a_failing_operation_saves_nothing(client: httpx.AsyncClient) -> None:
    image = await create_image(client, name="before", extra="e")
    ops = [op("replace", "/name", "after"), op("remove", "/extra"), op("replace", "/nope", "x")]
    assert (await patch_image(client, image["id"], ops)).status_code == 409
    assert await show_image(client, image["id"]) == image


async def test_operations_apply_in_order(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    ops = [op("add", "/x", "1"), op("replace", "/x", "2"), op("remove", "/x"), op("add", "/x", "3")]
    assert (await patched(client, image["id"], ops))["x"] == "3"


@pytest.mark.parametrize(
    ("ops", "status"),
    [
        # each operation is fully parsed and checked (pointer, read-only, schema)
        # before any is applied, so a later static error beats an earlier 409
        ([op("replace", "/nope", "x"), op("replace", "/status", "active")], 403),
        ([op("replace", "/status", "active"), {"op": "add", "path": "nope", "value": 1}], 403),
        ([{"op": "add", "path": "nope", "value": 1}, op("replace", "/status", "active")], 400),
        ([op("replace", "/nope", "x"), op("replace", "/name", 5)], 400),
        ([op("replace", "/min_ram", -1), op("replace", "/status", "x")], 403),
        ([op("replace", "/min_ram", -1), op("replace", "/nope", "x")], 400),
        ([op("replace", "/nope", "x"), op("replace", "/visibility", "public")], 409),
    ],
    ids=lambda v: str(v)[:50],
)
async def test_checks_run_in_glance_order(
    client: httpx.AsyncClient, ops: list[dict[str, Any]], status: int
) -> None:
    image = await create_image(client)
    assert (await patch_image(client, image["id"], ops)).status_code == status


async def test_static_checks_come_before_the_image_lookup(client: httpx.AsyncClient) -> None:
    absent = "00000000-0000-4000-8000-000000000000"
    assert (await patch_image(client, absent, [op("replace", "/status", "x")])).status_code == 403
    assert (await patch_image(client, absent, [op("replace", "/name", 5)])).status_code == 400
    assert (await patch_image(client, absent, [op("replace", "/name", "x")])).status_code == 404
    assert (await patch_image(client, absent, [])).status_code == 404


# ------------------------------------------------------------------- tags


async def test_tags_replace_whole_set(client: httpx.AsyncClient) -> None:
    image = await create_image(client, tags=["old", "keep"])
    updated = await patched(client, image["id"], [op("replace", "/tags", ["keep", "new", "new"])])
    assert sorted(updated["tags"]) == ["keep", "new"]
    cleared = await patched(client, image["id"], [op("replace", "/tags", [])])
    assert cleared["tags"] == []
    assert (await show_image(client, image["id"]))["tags"] == []


async def test_tag_quota_counts_tags_as_sent(make_client: Any) -> None:
    client = await make_client(image_tag_quota=2)
    image = await create_image(client)
    assert (
        await patch_image(client, image["id"], [op("replace", "/tags", ["a", "b"])])
    ).status_code == 200
    for tags in (["a", "b", "c"], ["a", "a", "b"]):
        response = await patch_image(client, image["id"], [op("replace", "/tags", tags)])
        assert response.status_code == 413
    assert sorted((await show_image(client, image["id"]))["tags"]) == ["a", "b"]


# -------------------------------------------------------------- property quota


async def test_property_quota_on_new_names_only(make_client: Any) -> None:
    client = await make_client(image_property_quota=2)
    image = await create_image(client, a="1", b="2")
    response = await patch_image(client, image["id"], [op("add", "/c", "3")])
    assert response.status_code == 413
    assert "c" not in await show_image(client, image["id"])
    # changing or swapping properties within the quota is fine
    await patched(client, image["id"], [op("replace", "/a", "one"), op("add", "/b", "two")])
    await patched(client, image["id"], [op("remove", "/a"), op("add", "/c", "3")])


async def test_property_quota_lowered_below_what_an_image_has(
    make_client: Any, records: Records
) -> None:
    image = records.add_image(properties={"a": "1", "b": "2", "c": "3"})
    client = await make_client(image_property_quota=2)
    # editing what is there is still allowed (removing and adding back a name, within
    # one request, adds nothing); a name the image did not have is refused
    ops = [op("replace", "/a", "x"), op("remove", "/b"), op("add", "/b", "two")]
    await patched(client, image.id, ops)
    assert (await patch_image(client, image.id, [op("add", "/d", "4")])).status_code == 413
    await patched(client, image.id, [op("remove", "/c")])
    assert (await patch_image(client, image.id, [op("add", "/c", "3")])).status_code == 413


async def test_negative_quotas_are_unlimited(make_client: Any) -> None:
    client = await make_client(image_property_quota=-1, image_tag_quota=-1)
    image = await create_image(client)
    ops = [op("add", f"/p{n}", "v") for n in range(150)]
    ops.append(op("replace", "/tags", [f"t{n}" for n in range(150)]))
    updated = await patched(client, image["id"], ops)
    assert len(updated["tags"]) == 150


# ------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        ("queued", True),
        ("importing", True),
        ("saving", False),
        ("uploading", False),
        ("active", False),
        ("deactivated", False),
        ("killed", False),
    ],
)
async def test_formats_change_only_while_queued_or_importing(
    client: httpx.AsyncClient, records: Records, status: str, allowed: bool
) -> None:
    image = records.add_image(status=status, disk_format="raw", container_format="bare")
    for kind in ("replace", "add"):
        # the same value counts as a change too
        for name, value in (("disk_format", "qcow2"), ("container_format", "bare")):
            response = await patch_image(client, image.id, [op(kind, f"/{name}", value)])
            assert response.status_code == (200 if allowed else 403), (kind, response.text)


async def test_other_attributes_change_in_any_status(client: httpx.AsyncClient) -> None:
    image = await create_image(client)
    await make_active(client, image["id"])
    assert (await client.post(f"/v2/images/{image['id']}/actions/deactivate")).status_code == 204
    updated = await patched(
        client, image["id"], [op("replace", "/name", "still"), op("add", "/os_distro", "x")]
    )
    assert (updated["name"], updated["status"]) == ("still", "deactivated")


# ------------------------------------------------------------ owner, visibility


async def test_owner_replace_is_admin_only(client: httpx.AsyncClient) -> None:
    image = await create_image(client, headers=caller("p1"))
    for value in ("p2", "p1"):  # refused even when it would change nothing (Glance)
        response = await patch_image(
            client, image["id"], [op("replace", "/owner", value)], headers=caller("p1")
        )
        assert response.status_code == 403
    response = await patch_image(
        client, image["id"], [op("add", "/owner", "p2")], headers=caller("p1")
    )
    assert response.status_code == 403
    response = await patch_image(
        client, image["id"], [op("replace", "/owner", "p2")], headers=admin()
    )
    assert response.json()["owner"] == "p2"
    # the unauthenticated (noauth) context is admin
    assert (await patched(client, image["id"], [op("replace", "/owner", None)]))["owner"] is None


@pytest.mark.parametrize(
    ("headers", "visibility", "status"),
    [
        (caller("p1"), "private", 200),
        (caller("p1"), "shared", 200),
        (caller("p1"), "community", 200),
        (caller("p1"), "public", 403),
        ({}, "public", 403),  # noauth is admin, but has no admin role
        (admin(), "public", 200),
    ],
    ids=["private", "shared", "community", "public", "noauth-public", "admin-public"],
)
async def test_visibility_changes(
    client: httpx.AsyncClient, headers: dict[str, str], visibility: str, status: int
) -> None:
    image = await create_image(client, headers=caller("p1"))
    response = await patch_image(
        client, image["id"], [op("replace", "/visibility", visibility)], headers=headers
    )
    assert response.status_code == status
    expected = visibility if status == 200 else "shared"
    assert (await show_image(client, image["id"]))["visibility"] == expected


async def test_publicize_is_checked_even_without_a_change(
    client: httpx.AsyncClient, records: Records
) -> None:
    image = records.add_image(owner="p1", visibility="public")
    response = await patch_image(
        client, image.id, [op("replace", "/visibility", "public")], headers=caller("p1")
    )
    assert response.status_code == 403
    response = await patch_image(
        client, image.id, [op("replace", "/visibility", "private")], headers=caller("p1")
    )
    assert response.status_code == 200


# -------------------------------------------------------------------- locations


@pytest.mark.parametrize(
    ("operation", "status"),
    [
        (op("add", "/locations/-", LOCATION), 403),
        (op("add", "/locations/0", LOCATION), 403),
        (op("add", "/locations/any", LOCATION), 403),
        (op("replace", "/locations", [LOCATION]), 403),
        (op("replace", "/locations", []), 403),
        (op("remove", "/locations/0"), 403),
        # the value is checked against the schema first
        (op("add", "/locations/-", "file:///x"), 400),
        (op("add", "/locations/-", {"url": "file:///x"}), 400),
        (op("replace", "/locations", "file:///x"), 400),
    ],
    ids=lambda v: str(v)[:45],
)
async def test_locations_cannot_be_edited(
    client: httpx.AsyncClient, operation: dict[str, Any], status: int
) -> None:
    # glimpse does not show locations (Glance's show_multiple_locations = False)
    image = await create_image(client)
    assert (await patch_image(client, image["id"], [operation])).status_code == status


# --------------------------------------------------------------- who may patch


@pytest.mark.parametrize(
    ("owner", "visibility", "headers", "status"),
    [
        ("p1", "private", caller("p1"), 200),
        ("p2", "public", caller("p1"), 403),
        ("p2", "community", caller("p1"), 403),
        ("p2", "private", caller("p1"), 404),
        ("p2", "private", admin(), 200),
        (None, "private", caller("p1"), 403),
    ],
    ids=["owner", "public-other", "community-other", "private-other", "admin", "ownerless"],
)
async def test_who_may_patch(
    client: httpx.AsyncClient,
    records: Records,
    owner: str | None,
    visibility: str,
    headers: dict[str, str],
    status: int,
) -> None:
    image = records.add_image(owner=owner, visibility=visibility, name="kept")
    response = await patch_image(client, image.id, [op("replace", "/name", "x")], headers=headers)
    assert response.status_code == status
    # with no operation there is nothing to authorize: anyone who sees the image gets it
    empty = await patch_image(client, image.id, [], headers=headers)
    assert empty.status_code == (404 if status == 404 else 200)
