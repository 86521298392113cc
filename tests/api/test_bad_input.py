"""Bad input never yields a 5xx: each malformed request gets its exact 4xx, and leaves
nothing changed behind it.

The statuses are the real Glance's (33.0.0, sent the same requests). Where Glance itself
answers 500 (a JSON array as a create body, JSON nested deeper than its parser goes, a
patch path that is not a string, range filters beyond 64 bits, a time filter that a
zone pushes past year 9999), glimpse answers 400. Where glimpse is stricter than Glance
on purpose, the case says why.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.images import OCTETS, active, create, show, upload
from tests.support.server import ServerProcess
from tests.support.stored import Stored

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"
ACCEPT_PATCH = f"{V20}, {V21}"
JSON = {"Content-Type": "application/json"}

# the longest property value glimpse keeps (Glance's MySQL TEXT column holds no more)
MAX_VALUE = 65535


@dataclass(frozen=True)
class Case:
    """One request: ``{image}`` in ``path`` becomes the path of a queued image that has
    its formats set. ``body`` is sent as JSON unless it is bytes."""

    method: str
    path: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes | None:
        if self.body is None or isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


async def send(client: httpx.AsyncClient, case: Case, image_id: str) -> httpx.Response:
    path = case.path.replace("{image}", f"/v2/images/{image_id}")
    return await client.request(case.method, path, content=case.content(), headers=case.headers)


async def image_ids(client: httpx.AsyncClient) -> list[str]:
    listed = await client.get("/v2/images", params={"limit": 1000})
    assert listed.status_code == 200
    return [image["id"] for image in listed.json()["images"]]


# ------------------------------------------------------------------------ create


def _create(body: Any, status: int = 400, headers: dict[str, str] | None = None) -> Case:
    return Case("POST", "/v2/images", status, body, headers or JSON)


CREATE_CASES = {
    # not JSON, or not a JSON object
    "no body": _create(b""),
    "malformed": _create(b'{"name":'),
    "trailing garbage": _create(b'{"name": "a"} x'),
    "undecodable bytes": _create(b'{"name": "\xff\xfe"}'),
    "latin-1 bytes": _create('{"name": "café"}'.encode("latin-1")),
    "utf-16": _create('{"name": "a"}'.encode("utf-16")),
    "lone surrogate": _create(b'{"name": "\\ud800"}'),
    "nested past any parser": _create(b"[" * 100_000 + b"]" * 100_000),  # Glance: 500
    "array": _create([{"name": "a"}]),  # Glance: 500
    "empty array": _create([]),  # Glance: 500
    "string": _create("image"),
    "number": _create(1),
    "true": _create(True),
    "null": _create(None),
    # wrong types and values of every base attribute
    "name: number": _create({"name": 1}),
    "name: 256 characters": _create({"name": "n" * 256}),
    "visibility: unknown": _create({"visibility": "everyone"}),
    "visibility: number": _create({"visibility": 1}),
    "protected: string": _create({"protected": "true"}),
    "protected: number": _create({"protected": 1}),
    "os_hidden: string": _create({"os_hidden": "false"}),
    "min_ram: string": _create({"min_ram": "1"}),
    "min_ram: fraction": _create({"min_ram": 1.5}),
    "min_ram: boolean": _create({"min_ram": True}),
    "min_ram: negative": _create({"min_ram": -1}),
    "min_ram: over 32 bits": _create({"min_ram": 2**31}),
    "min_disk: negative": _create({"min_disk": -1}),
    "min_disk: over 64 bits": _create({"min_disk": 2**64}),
    "tags: string": _create({"tags": "a"}),
    "tags: null": _create({"tags": None}),
    "tags: number item": _create({"tags": [1]}),
    "tags: 256 characters": _create({"tags": ["t" * 256]}),
    "container_format: unknown": _create({"container_format": "box"}),
    "container_format: number": _create({"container_format": 1}),
    "disk_format: unknown": _create({"disk_format": "floppy"}),
    "disk_format: list": _create({"disk_format": ["raw"]}),
    "id: not a uuid": _create({"id": "not-a-uuid"}),
    "id: uuid without dashes": _create({"id": uuid.uuid4().hex}),
    "id: uuid with a character more": _create({"id": f"{uuid.uuid4()}a"}),
    "id: number": _create({"id": 1}),
    "id: null": _create({"id": None}),
    "owner: number": _create({"owner": 1}),
    "owner: 256 characters": _create({"owner": "o" * 256}),
    # additional properties are strings with names of at most 255 characters
    "property: number": _create({"os_distro": 1}),
    "property: null": _create({"foo": None}),
    "property: list": _create({"foo": ["a"]}),
    "property name: 256 characters": _create({"k" * 256: "v"}),
    # glimpse keeps no longer values (Glance on SQLite does; on MySQL it cannot)
    "property value: too long": _create({"foo": "v" * (MAX_VALUE + 1)}),
    # PostgreSQL cannot hold U+0000, so glimpse refuses it on every backend
    "NUL in name": _create({"name": "a\x00b"}),
    "NUL in a property name": _create({"a\x00b": "v"}),
    "NUL in a tag": _create({"tags": ["a\x00"]}),
    # read-only and reserved names
    "status": _create({"status": "active"}, 403),
    "locations": _create({"locations": []}, 403),
    "os_glance prefix": _create({"os_glance_import_task": "x"}, 403),
}


@pytest.mark.parametrize("case", CREATE_CASES.values(), ids=CREATE_CASES.keys())
async def test_bad_create_bodies(client: httpx.AsyncClient, case: Case) -> None:
    response = await send(client, case, "")
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/json"
    assert await image_ids(client) == []


@pytest.mark.parametrize(
    "body",
    [
        {"k" * 255: "v"},
        {"foo": "v" * MAX_VALUE},
        {"min_ram": 2**31 - 1, "min_disk": 2**31 - 1},
        {"foo": "\x01\x7f\u2028\U0001f600"},  # control characters other than NUL are fine
    ],
    ids=["255-character name", "longest value", "largest minimums", "odd characters"],
)
async def test_limits_themselves_are_accepted(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    shown = await show(client, response.json()["id"])
    assert {name: shown[name] for name in body} == body


async def test_body_over_4_mib_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/images", json={"foo": "v" * (4 << 20)})
    assert response.status_code == 413
    assert await image_ids(client) == []


# -------------------------------------------------------------- ids in paths

BAD_IDS = {
    "not a uuid": "not-a-uuid",
    "37 characters": f"{uuid.uuid4()}a",
    "10000 characters": "a" * 10_000,
    "unknown uuid": str(uuid.uuid4()),
}
IMAGE_ROUTES = [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/file"), ("PUT", "/file"),
    ("POST", "/actions/deactivate"), ("POST", "/actions/reactivate"), ("PUT", "/tags/a"),
    ("DELETE", "/tags/a"),
]  # fmt: skip
ROUTE_HEADERS = {"PATCH": {"Content-Type": V21}, "PUT": OCTETS}
ROUTE_BODIES = {"PATCH": b"[]", "PUT": b"data"}


@pytest.mark.parametrize("route", IMAGE_ROUTES, ids=[" ".join(route) for route in IMAGE_ROUTES])
@pytest.mark.parametrize("image_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_unknown_image_ids_are_404(
    client: httpx.AsyncClient, route: tuple[str, str], image_id: str
) -> None:
    method, suffix = route
    headers = ROUTE_HEADERS.get(method, {}) if suffix != "/tags/a" else {}
    body = ROUTE_BODIES.get(method) if suffix != "/tags/a" else None
    response = await client.request(
        method, f"/v2/images/{image_id}{suffix}", content=body, headers=headers
    )
    assert response.status_code == 404, response.text


@pytest.mark.parametrize("route", IMAGE_ROUTES, ids=[" ".join(route) for route in IMAGE_ROUTES])
async def test_nul_in_an_image_id_is_400(client: httpx.AsyncClient, route: tuple[str, str]) -> None:
    method, suffix = route
    response = await client.request(method, f"/v2/images/a%00b{suffix}")
    assert response.status_code == 400, response.text


# ----------------------------------------------------------------------- list

LIST_CASES = {
    "unknown sort_key": ("sort_key=owner", 400),
    "empty sort_key": ("sort_key=", 400),
    "unknown sort_dir": ("sort_dir=up", 400),
    "unknown sort key": ("sort=owner", 400),
    "unknown sort direction": ("sort=name:up", 400),
    "empty sort": ("sort=", 400),
    "sort with sort_key": ("sort=name&sort_key=name", 400),
    "sort with sort_dir": ("sort=name&sort_dir=asc", 400),
    "3 dirs for 2 keys": ("sort_key=name&sort_key=id&sort_dir=asc&sort_dir=desc&sort_dir=asc", 400),
    "2 dirs for 1 key": ("sort_key=name&sort_dir=asc&sort_dir=desc", 400),
    "unknown marker": (f"marker={uuid.uuid4()}", 400),
    "garbage marker": ("marker=garbage", 400),
    "5000-character marker": ("marker=" + "a" * 5000, 400),
    "negative limit": ("limit=-1", 400),
    "non-numeric limit": ("limit=ten", 400),
    "fractional limit": ("limit=1.5", 400),
    "empty limit": ("limit=", 400),
    "huge limit": ("limit=" + "9" * 40, 200),
    "created_at garbage": ("created_at=yesterday", 400),
    "created_at unknown operator": ("created_at=after:2020-01-01T00:00:00Z", 400),
    "created_at operator without time": ("created_at=gt:", 400),
    "created_at operator, garbage": ("created_at=gt:yesterday", 400),
    "updated_at unknown operator": ("updated_at=bad:2020-01-01", 400),
    # Glance: 500 (the zone moves them out of Python's datetime range)
    "created_at before year 1": ("created_at=gt:0001-01-01T00:00:00%2B01:00", 400),
    "created_at after year 9999": ("created_at=lt:9999-12-31T23:59:59-01:00", 400),
    "unknown visibility": ("visibility=everyone", 400),
    "unknown member_status": ("member_status=maybe", 400),
    "protected: yes": ("protected=yes", 400),
    "protected: True (case matters)": ("protected=True", 400),
    "os_hidden: maybe": ("os_hidden=maybe", 400),
    "os_hidden: TRUE (case does not matter)": ("os_hidden=TRUE", 200),
    "size_min not a number": ("size_min=big", 400),
    "size_max a fraction": ("size_max=1.5", 400),
    "unknown operator": ("name=like:foo", 400),
    "unclosed quote in in:": ('name=in:"a', 400),
    "changes-since": ("changes-since=2020-01-01T00:00:00Z", 400),
    "NUL in a filter": ("name=a%00", 400),
    "NUL in a property filter": ("os_distro=%00", 400),
    "NUL in a tag filter": ("tag=%00", 400),
    "NUL in a marker": ("marker=%00", 400),
}


@pytest.mark.parametrize(
    ("query", "status"), LIST_CASES.values(), ids=LIST_CASES.keys()
)  # fmt: skip
async def test_bad_list_queries(client: httpx.AsyncClient, query: str, status: int) -> None:
    await create(client)
    response = await client.get(f"/v2/images?{query}")
    assert response.status_code == status, response.text


async def test_huge_limit_is_capped(make_client: Any) -> None:
    client = await make_client(api_limit_max=2)
    for _ in range(3):
        await create(client)
    response = await client.get("/v2/images", params={"limit": "9" * 40})
    assert response.status_code == 200
    assert len(response.json()["images"]) == 2
    assert "next" in response.json()


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("size_min=" + "9" * 30, False),
        ("size_max=" + "9" * 30, True),
        ("size_min=-" + "9" * 30, True),
        ("size_max=-" + "9" * 30, False),
        ("min_ram_max=" + "9" * 30, True),
        ("size=" + "9" * 30, False),
        ("min_ram=" + "9" * 30, False),
        ("min_disk=-" + "9" * 30, False),
    ],
)
async def test_numeric_filters_beyond_the_columns_mean_what_they_say(
    client: httpx.AsyncClient, query: str, found: bool
) -> None:
    # no stored number lies beyond its column's range: such a bound is the range's end
    # (Glance answers 500 for the ranges and an empty page for the exact matches)
    image = await active(client, b"x" * 10)
    response = await client.get(f"/v2/images?{query}")
    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["images"]] == ([image["id"]] if found else [])


# ---------------------------------------------------------------------- PATCH


def _patch(ops: Any, status: int = 400, media: str = V21) -> Case:
    return Case("PATCH", "{image}", status, ops, {"Content-Type": media})


def _op(op: Any, path: Any, value: Any = "v") -> dict[str, Any]:
    return {"op": op, "path": path, "value": value}


PATCH_CASES = {
    # not a list of operation objects
    "object": _patch({"op": "add", "path": "/a", "value": "v"}),
    "string": _patch("add"),
    "null": _patch(None),
    "malformed": _patch(b"[{"),
    "no body": _patch(b""),
    "number element": _patch([1]),
    "list element": _patch([[]]),
    "NUL in a value": _patch([_op("add", "/a", "\x00")]),
    # unknown or missing members
    "move": _patch([{"op": "move", "from": "/name", "path": "/a"}]),
    "copy": _patch([{"op": "copy", "from": "/name", "path": "/a"}]),
    "test": _patch([_op("test", "/name")]),
    "unknown op": _patch([_op("merge", "/name")]),
    "op a number": _patch([_op(1, "/name")]),
    "no op": _patch([{"path": "/name", "value": "v"}]),
    "no path": _patch([{"op": "replace", "value": "v"}]),
    "replace without value": _patch([{"op": "replace", "path": "/name"}]),
    "add without value": _patch([{"op": "add", "path": "/a"}]),
    # JSON pointers glimpse (and Glance) do not follow
    "empty pointer": _patch([_op("add", "")]),
    "no leading slash": _patch([_op("add", "a")]),
    "trailing slash": _patch([_op("add", "/a/")]),
    "adjacent slashes": _patch([_op("add", "//")]),
    "~2": _patch([_op("add", "/a~2")]),
    "trailing ~": _patch([_op("add", "/a~")]),
    "nested": _patch([_op("add", "/a/b")]),
    "/tags/-": _patch([_op("add", "/tags/-")]),
    "/tags/0": _patch([_op("add", "/tags/0")]),
    "pointer a number": _patch([_op("add", 1)]),  # Glance: 500
    "pointer null": _patch([_op("add", None)]),  # Glance: 500
    # the legacy dialect: exactly one of add/remove/replace, naming the path
    "v2.0: two operations": _patch([{"add": "/a", "replace": "/b", "value": "v"}], media=V20),
    "v2.0: no operation": _patch([{"value": "v"}], media=V20),
    "v2.0: v2.1 members": _patch([_op("add", "/a")], media=V20),
    "v2.0: nested": _patch([{"add": "/a/b", "value": "v"}], media=V20),
    "v2.0: add without value": _patch([{"add": "/a"}], media=V20),
    # values the schema or the columns refuse
    "name: number": _patch([_op("replace", "/name", 1)]),
    "min_ram: string": _patch([_op("replace", "/min_ram", "1")]),
    "min_ram: negative": _patch([_op("replace", "/min_ram", -1)]),
    "min_ram: over 32 bits": _patch([_op("replace", "/min_ram", 2**31)]),
    "min_disk: over 64 bits": _patch([_op("replace", "/min_disk", 2**64)]),
    "protected: string": _patch([_op("replace", "/protected", "true")]),
    "visibility: unknown": _patch([_op("replace", "/visibility", "everyone")]),
    "tags: string": _patch([_op("replace", "/tags", "a")]),
    "tags: 256 characters": _patch([_op("replace", "/tags", ["t" * 256])]),
    "property: number": _patch([_op("add", "/foo", 1)]),
    "property: null": _patch([_op("add", "/foo", None)]),
    # Glance on SQLite keeps a longer name; its own column (and glimpse's) is 255 wide
    "property name: 256 characters": _patch([_op("add", "/" + "k" * 256)]),
    "property value: too long": _patch([_op("add", "/foo", "v" * (MAX_VALUE + 1))]),
    "a bad op after a good one": _patch([_op("add", "/foo"), _op("add", "/bar", 1)]),
    # names a caller may not write, and ones that are not there
    "replace id": _patch([_op("replace", "/id", str(uuid.uuid4()))], 403),
    "replace status": _patch([_op("replace", "/status", "active")], 403),
    "remove a base attribute": _patch([{"op": "remove", "path": "/name"}], 403),
    "remove a missing property": _patch([{"op": "remove", "path": "/nope"}], 409),
    "replace a missing property": _patch([_op("replace", "/nope")], 409),
}


@pytest.mark.parametrize("case", PATCH_CASES.values(), ids=PATCH_CASES.keys())
async def test_bad_patches_change_nothing(client: httpx.AsyncClient, case: Case) -> None:
    image = await create(client, name="before")
    response = await send(client, case, image["id"])
    assert response.status_code == case.status, response.text
    assert await show(client, image["id"]) == image


@pytest.mark.parametrize(
    "media",
    [None, "application/json", "application/json-patch+json", "text/plain", V21[:-1]],
)
async def test_wrong_patch_media_type_is_415_with_accept_patch(
    client: httpx.AsyncClient, media: str | None
) -> None:
    image = await create(client)
    headers = {} if media is None else {"Content-Type": media}
    ops = json.dumps([_op("replace", "/name", "new")])
    response = await client.patch(f"/v2/images/{image['id']}", content=ops, headers=headers)
    assert response.status_code == 415
    assert response.headers["accept-patch"] == ACCEPT_PATCH
    assert (await show(client, image["id"]))["name"] is None


async def test_pointer_to_the_root_sets_an_empty_name(client: httpx.AsyncClient) -> None:
    # "/" is one empty segment: Glance sets a property named "" (so does glimpse)
    image = await create(client)
    response = await send(client, _patch([_op("add", "/")], 200), image["id"])
    assert response.status_code == 200, response.text
    assert response.json()[""] == "v"


# ------------------------------------------------------------------- quotas


async def test_properties_and_tags_at_and_over_quota(make_client: Any) -> None:
    client = await make_client(image_property_quota=3, image_tag_quota=2)
    props = {"a": "1", "b": "2", "c": "3"}
    too_many = await client.post("/v2/images", json={**props, "d": "4"})
    assert too_many.status_code == 413
    assert (await client.post("/v2/images", json={"tags": ["x", "y", "z"]})).status_code == 413
    assert await image_ids(client) == []

    image = await create(client, **props, tags=["x", "y"])
    path = f"/v2/images/{image['id']}"
    patch = {"Content-Type": V21}
    add_prop = json.dumps([_op("add", "/d", "4")])
    assert (await client.patch(path, content=add_prop, headers=patch)).status_code == 413
    three_tags = json.dumps([_op("replace", "/tags", ["x", "y", "z"])])
    assert (await client.patch(path, content=three_tags, headers=patch)).status_code == 413
    assert (await client.put(f"{path}/tags/z")).status_code == 413
    assert await show(client, image["id"]) == image
    # at the quota, changes still go through
    swap = json.dumps([{"op": "remove", "path": "/c"}, _op("add", "/d", "4")])
    assert (await client.patch(path, content=swap, headers=patch)).status_code == 200
    assert (await client.put(f"{path}/tags/x")).status_code == 204  # already there


# ------------------------------------------------------------- tags in paths


@pytest.mark.parametrize(
    ("method", "tag", "status"),
    [
        ("PUT", "t" * 256, 400),
        ("PUT", "a%00b", 400),
        ("DELETE", "a%00b", 400),
        ("DELETE", "absent", 404),
        ("PUT", "t" * 255, 204),
    ],
    ids=["256 characters", "NUL", "delete NUL", "delete absent", "255 characters"],
)
async def test_bad_tags(client: httpx.AsyncClient, method: str, tag: str, status: int) -> None:
    image = await create(client)
    response = await client.request(method, f"/v2/images/{image['id']}/tags/{tag}")
    assert response.status_code == status, response.text
    assert (await show(client, image["id"]))["tags"] == ([tag] if status == 204 else [])


# ------------------------------------------------------- bodies where none goes

NO_BODY_ROUTES = {
    "show": ("GET", "{image}", 400),
    "delete": ("DELETE", "{image}", 400),
    "download": ("GET", "{image}/file", 400),
    "deactivate": ("POST", "{image}/actions/deactivate", 400),
    "reactivate": ("POST", "{image}/actions/reactivate", 400),
    "add tag": ("PUT", "{image}/tags/a", 400),
    "remove tag": ("DELETE", "{image}/tags/a", 400),
    "schema": ("GET", "/v2/schemas/image", 400),
    "import info": ("GET", "/v2/info/import", 400),
    # Glance reads no body on a list, and minds none
    "list": ("GET", "/v2/images", 200),
}


@pytest.mark.parametrize(
    ("method", "path", "status"), NO_BODY_ROUTES.values(), ids=NO_BODY_ROUTES.keys()
)
async def test_bodies_on_routes_that_take_none(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    image = await active(client, b"data", tags=["a"])
    case = Case(method, path, status, {"name": "x"}, JSON)
    response = await send(client, case, image["id"])
    assert response.status_code == status, response.text
    assert await show(client, image["id"]) == image


# -------------------------------------------------------------------- upload

UPLOAD_CASES = {
    "json media type": ({"Content-Type": "application/json"}, b"data", 415),
    "no media type": ({}, b"data", 415),
    "size not a number": ({**OCTETS, "x-openstack-image-size": "four"}, b"data", 400),
    "negative size": ({**OCTETS, "x-openstack-image-size": "-4"}, b"data", 400),
    "size too small": ({**OCTETS, "x-openstack-image-size": "3"}, b"data", 400),
    "size too large": ({**OCTETS, "x-openstack-image-size": "5"}, b"data", 400),
    "size over the cap": ({**OCTETS, "x-openstack-image-size": str(2**70)}, b"data", 413),
}


@pytest.mark.parametrize(
    ("headers", "body", "status"), UPLOAD_CASES.values(), ids=UPLOAD_CASES.keys()
)
async def test_bad_uploads_leave_the_image_queued(
    client: httpx.AsyncClient,
    stored: Stored,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    image = await create(client)
    path = f"/v2/images/{image['id']}/file"
    response = await client.put(path, content=body, headers=headers)
    assert response.status_code == status, response.text
    after = await show(client, image["id"])
    assert (after["status"], after["size"], after["checksum"]) == ("queued", None, None)
    assert stored.objects() == set()
    assert (await upload(client, image["id"], body)).status_code == 204


async def test_upload_without_formats_is_400(client: httpx.AsyncClient, stored: Stored) -> None:
    image = (await client.post("/v2/images", json={})).json()
    response = await upload(client, image["id"], b"data")
    assert response.status_code == 400
    assert (await show(client, image["id"]))["status"] == "queued"
    assert stored.objects() == set()


@pytest.mark.parametrize(
    ("range_header", "status"),
    [("bytes=0-1,2-3", 400), ("bytes=x-y", 416), ("bytes=9-", 416), ("pages=0-1", 416)],
)
async def test_bad_ranges(client: httpx.AsyncClient, range_header: str, status: int) -> None:
    image = await active(client, b"data")
    response = await client.get(f"/v2/images/{image['id']}/file", headers={"Range": range_header})
    assert response.status_code == status


# ------------------------------------------------- a client gone mid-upload


def wait_for_status(live: httpx.Client, image_id: str, status: str) -> None:
    deadline = time.monotonic() + 15
    while (seen := live.get(f"/v2/images/{image_id}").json()["status"]) != status:
        assert time.monotonic() < deadline, f"still {seen}, never {status}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("framing", "sent"),
    [
        ("Content-Length: 50000000", b""),
        ("Content-Length: 50000000", b"x" * 3_000_000),
        ("Transfer-Encoding: chunked", b"%x\r\n%s" % (3_000_000, b"x" * 1_000_000)),
    ],
    ids=["headers only", "part of the body", "inside a chunk"],
)
def test_client_gone_mid_upload(
    live: httpx.Client, server: ServerProcess, framing: str, sent: bytes
) -> None:
    image_id = live.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    image_id = image_id.json()["id"]
    head = (
        f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: glimpse\r\n"
        f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n"
    )
    logged = len(server.log())
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(head.encode() + sent)
        wait_for_status(live, image_id, "saving")
    wait_for_status(live, image_id, "queued")
    # a client that leaves is no server error
    assert "unexpected error" not in server.log()[logged:]
    stored = Stored.of_server(server)
    assert stored.leftovers() == set() and stored.data_of(image_id) is None
    # the image takes a new upload, and keeps exactly it
    retry = live.put(f"/v2/images/{image_id}/file", content=b"whole", headers=OCTETS)
    assert retry.status_code == 204
    assert live.get(f"/v2/images/{image_id}/file").content == b"whole"
    assert stored.leftovers() == set()
