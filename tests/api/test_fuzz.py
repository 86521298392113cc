"""Property-based fuzzing of the API: random sequences of calls, valid and not.

Hypothesis drives the in-process app (on each database backend) through creates with
garbage attributes, PATCHes in both patch media types, uploads with wrong sizes or media
types, ranged downloads, deletes, tags, deactivate/reactivate and lists with random
query strings. Whatever it sends, no response is a 5xx, every download returns the
bytes that were uploaded, and once the sequence is over the database and the file store
agree (see :func:`check_consistency`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from glimpse.app import Glimpse
from glimpse.db.tables import image_locations, image_uploads, images, orphaned_data
from tests.conftest import wipe
from tests.support.stored import Stored

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"
OCTETS = "application/octet-stream"

# the attribute names worth aiming at: base ones, read-only ones, reserved ones
NAMES = [
    "id", "name", "visibility", "protected", "os_hidden", "min_ram", "min_disk", "tags",
    "container_format", "disk_format", "owner", "status", "size", "checksum", "locations",
    "kernel_id", "description", "os_glance_x", "deleted", "self", "custom",
]  # fmt: skip

# ------------------------------------------------------------------ strategies

# strings that tend to break services: NUL (PostgreSQL cannot hold it), escapes, odd
# Unicode; and the lengths around every limit the service has
HAZARDS = ["", "\x00", "a\x00b", "%00", " ", "../x", "~1", "\u2028", "\U0001f600", "null"]
texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(HAZARDS),
    st.sampled_from([255, 256, 65535, 65536]).map(lambda n: "v" * n),
)
# integers, with the edges of 32- and 64-bit columns drawn often
integers = st.integers(min_value=-(2**65), max_value=2**65) | st.sampled_from(
    [-1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1]
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
clean_texts = st.text(st.characters(exclude_characters="\x00"), max_size=12)
names = st.sampled_from(NAMES) | st.text(max_size=8) | st.sampled_from([*HAZARDS, "k" * 256])

uploadable_create = st.fixed_dictionaries(
    {
        # mostly formats whose inspection any bytes pass, so that uploads succeed
        "disk_format": st.sampled_from(["raw", "raw", "raw", "qcow2", "iso"]),
        "container_format": st.sampled_from(["bare", "bare", "ovf"]),
    },
    optional={
        "name": clean_texts | st.sampled_from(HAZARDS),
        "tags": st.lists(clean_texts, max_size=5),
        "min_ram": st.integers(min_value=0, max_value=2**31 - 1),
        "visibility": st.sampled_from(["private", "shared"]),
        "protected": st.booleans(),
        "os_hidden": st.booleans(),
        "custom": clean_texts,
    },
)
messy_create = st.dictionaries(names, json_values, max_size=5)

# an image the sequence created, by index (the list only grows)
known = st.integers(min_value=0, max_value=1000)
# an image that does not exist: a random uuid, or garbage
unknown = st.one_of(
    st.uuids().map(str), st.text(min_size=1, max_size=40), st.sampled_from(["a" * 5000, "a\x00"])
)

patch_ops = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "op": st.sampled_from(["add", "remove", "replace", "move", "test", ""]) | json_values,
            "path": st.sampled_from(["/", "", "/a/", "/a~2", "/tags/-", "/a/b", "/locations/0"])
            | names.map(lambda name: "/" + name.replace("~", "~0").replace("/", "~1"))
            | json_values,
            "value": json_values,
        },
    ),
    max_size=4,
)
# operations that mostly succeed, so that sequences change images in meaningful ways
SENSIBLE_PATHS = [
    "/name", "/custom", "/other", "/min_ram", "/protected", "/disk_format",
    "/container_format", "/visibility", "/tags",
]  # fmt: skip
SENSIBLE_VALUES = [
    None, "x", "raw", "qcow2", "bare", "private", "public", 0, 1, 2**31, True, False, ["a"],
    ["a", "b", "c", "d", "e", "f"], "a\x00b",
]  # fmt: skip
sensible_ops = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "replace"]),
            "path": st.sampled_from(SENSIBLE_PATHS),
            "value": st.sampled_from(SENSIBLE_VALUES) | texts,
        }
    )
    | st.fixed_dictionaries({"op": st.just("remove"), "path": st.sampled_from(["/custom", "/a"])}),
    min_size=1,
    max_size=3,
)

upload_bodies = st.binary(max_size=64) | st.integers(0, 20_000).map(
    lambda n: bytes(range(256)) * (n // 256) + b"tail"[: n % 5]
)
ranges = st.one_of(
    st.none(),
    st.builds(
        lambda a, b: f"bytes={'' if a is None else a}-{'' if b is None else b}",
        st.none() | st.integers(min_value=-2, max_value=30_000) | st.just(2**70),
        st.none() | st.integers(min_value=-2, max_value=30_000),
    ),
    st.sampled_from(["bytes=0-1,3-4", "bytes=", "items=0-1", "bytes=a-b", "bytes=--1"]),
)

list_keys = st.sampled_from(
    ["limit", "marker", "sort", "sort_key", "sort_dir", "visibility", "member_status", "tag",
     "protected", "os_hidden", "created_at", "updated_at", "name", "id", "status", "size_min",
     "size_max", "min_ram", "size", "owner", "custom", "changes-since"]
) | st.text(max_size=6)  # fmt: skip
list_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(HAZARDS),
    st.sampled_from(["asc", "desc", "name:asc", "true", "False", "all", 'in:a,"b', "gt:2020-01-01",
                     "lt:0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "-1", "0"]),
    integers.map(str),
)  # fmt: skip

# every route that names an image, as (method, path after the image's)
IMAGE_ROUTES = [
    ("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/file"), ("PUT", "/file"),
    ("POST", "/actions/deactivate"), ("POST", "/actions/reactivate"), ("PUT", "/tags/t"),
    ("DELETE", "/tags/t"),
]  # fmt: skip


# ----------------------------------------------------------------- the invariant


def check_consistency(app: Glimpse, stored: Stored) -> None:
    """The database and the stores agree, and nothing is left half done."""
    with app.db.engine.connect() as conn:
        rows = conn.execute(
            select(images.c.id, images.c.status, images.c.size, images.c.checksum,
                   images.c.os_hash_algo, images.c.os_hash_value, images.c.deleted)
        ).all()  # fmt: skip
        locations = conn.execute(select(image_locations.c.image_id, image_locations.c.url)).all()
        leases = conn.execute(select(image_uploads.c.image_id)).all()
        orphans = conn.execute(select(orphaned_data.c.location)).all()
    assert not leases, f"upload leases left behind: {leases}"
    assert not orphans, f"data the store could not delete: {orphans}"
    by_image: dict[str, list[str]] = {}
    for image_id, url in locations:
        by_image.setdefault(image_id, []).append(url)
    for row in rows:
        urls = by_image.get(row.id, [])
        assert row.status != "saving", f"image {row.id} left in saving"
        if row.status in ("active", "deactivated"):
            assert not row.deleted
            assert len(urls) == 1, f"image {row.id} ({row.status}) has locations {urls}"
            data = stored.data_of(row.id)
            assert data is not None, f"data of {row.status} image {row.id} is missing"
            assert len(data) == row.size, f"{row.id}: {len(data)} bytes stored, size {row.size}"
            assert hashlib.md5(data, usedforsecurity=False).hexdigest() == row.checksum
            assert hashlib.new(row.os_hash_algo, data).hexdigest() == row.os_hash_value
        else:
            assert not urls, f"image {row.id} ({row.status}) still has locations {urls}"
    leftovers = stored.leftovers()
    assert not leftovers, f"data no image points to (partial or abandoned): {leftovers}"


def has_images(machine: ApiSequence) -> bool:
    return bool(machine.ids)


class ApiSequence(RuleBasedStateMachine):
    """One random sequence of API calls against a freshly emptied app."""

    app: Glimpse
    client: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    stored: Stored

    def __init__(self) -> None:
        super().__init__()
        # every sequence starts from nothing, so that a failure replays the same way
        wipe(self.app)
        self.stored.remove_everything()
        self.ids: list[str] = []  # every image created, deleted ones included
        self.uploaded: dict[str, bytes] = {}

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.loop.run_until_complete(self.client.request(method, url, **kwargs))
        assert response.status_code < 500, (
            f"{method} {url[:200]} → {response.status_code}: {response.text[:500]}"
        )
        return response

    def image(self, ref: int) -> tuple[str, str]:
        """(id, URL path) of the image the sequence created that ``ref`` picks."""
        image_id = self.ids[ref % len(self.ids)]
        return image_id, f"/v2/images/{image_id}"

    def create_with(self, body: bytes) -> None:
        response = self.call("POST", "/v2/images", content=body,
                             headers={"Content-Type": "application/json"})  # fmt: skip
        if response.status_code == 201:
            self.ids.append(response.json()["id"])

    # --------------------------------------------------------------- creating

    @rule(body=uploadable_create)
    def create_uploadable(self, body: dict[str, Any]) -> None:
        self.create_with(json.dumps(body).encode())

    @rule(
        body=st.one_of(
            messy_create.map(lambda body: json.dumps(body).encode()),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=40),
        )
    )
    def create_messy(self, body: bytes) -> None:
        self.create_with(body)

    @initialize(body=upload_bodies)
    def start_with_an_active_image(self, body: bytes) -> None:
        # every sequence has data to download, deactivate and delete from its first step
        self.create_with(b'{"disk_format": "raw", "container_format": "bare"}')
        self.upload(0, body, declare=False)

    # -------------------------------------------------------------- changing

    @precondition(has_images)
    @rule(
        ref=known,
        ops=patch_ops | json_values,
        media=st.sampled_from([V21, V20, "application/json", "", f"{V21}; charset=utf-8"]),
    )
    def patch_garbage(self, ref: int, ops: Any, media: str) -> None:
        self.patch(ref, ops, media)

    @precondition(has_images)
    @rule(ref=known, ops=sensible_ops, media=st.sampled_from([V21, V20]))
    def patch_sensibly(self, ref: int, ops: list[dict[str, Any]], media: str) -> None:
        self.patch(ref, ops, media)

    def patch(self, ref: int, ops: Any, media: str) -> None:
        _, path = self.image(ref)
        if media == V20 and isinstance(ops, list):
            # the legacy dialect names the operation as the key of its path
            ops = [
                {str(op.get("op")): op.get("path"), **{k: op[k] for k in ("value",) if k in op}}
                if isinstance(op, dict)
                else op
                for op in ops
            ]
        self.call("PATCH", path, content=json.dumps(ops), headers={"Content-Type": media})

    @precondition(has_images)
    @rule(
        ref=known,
        tag=st.text(max_size=10) | st.sampled_from([*HAZARDS, "t" * 256]),
        add=st.booleans(),
    )
    def tag(self, ref: int, tag: str, add: bool) -> None:
        _, path = self.image(ref)
        self.call("PUT" if add else "DELETE", f"{path}/tags/{quote(tag, safe='')}")

    @precondition(has_images)
    @rule(ref=known, action=st.sampled_from(["deactivate", "reactivate"]))
    def toggle(self, ref: int, action: str) -> None:
        _, path = self.image(ref)
        self.call("POST", f"{path}/actions/{action}")

    @precondition(has_images)
    @rule(ref=known)
    def delete(self, ref: int) -> None:
        image_id, path = self.image(ref)
        if self.call("DELETE", path).status_code == 204:
            self.uploaded.pop(image_id, None)

    # ------------------------------------------------------------------ data

    @precondition(has_images)
    @rule(ref=known, body=upload_bodies, declare=st.booleans())
    def upload(self, ref: int, body: bytes, declare: bool) -> None:
        image_id, path = self.image(ref)
        headers = {"Content-Type": OCTETS}
        if declare:
            headers["x-openstack-image-size"] = str(len(body))
        if self.call("PUT", f"{path}/file", content=body, headers=headers).status_code == 204:
            self.uploaded[image_id] = body

    @precondition(has_images)
    @rule(
        ref=known,
        body=upload_bodies,
        declared=st.sampled_from(["none", "right", "wrong", "garbage", "negative", "huge"]),
        media=st.sampled_from([OCTETS, "application/json", "", None]),
        chunked=st.booleans(),
        project=st.sampled_from([None, None, "p1"]),
    )
    def upload_oddly(
        self,
        ref: int,
        body: bytes,
        declared: str,
        media: str | None,
        chunked: bool,
        project: str | None,
    ) -> None:
        image_id, path = self.image(ref)
        headers = {} if media is None else {"Content-Type": media}
        if project is not None:
            # an ordinary caller sees an image without owner but may not change it
            headers["X-Project-Id"] = project
        size = {"right": str(len(body)), "wrong": str(len(body) + 1), "garbage": "12ab",
                "negative": "-5", "huge": str(2**70)}.get(declared)  # fmt: skip
        if size is not None:
            headers["x-openstack-image-size"] = size

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 3000):
                yield body[start : start + 3000]

        response = self.call("PUT", f"{path}/file", content=chunks() if chunked else body,
                             headers=headers)  # fmt: skip
        if response.status_code == 204:
            self.uploaded[image_id] = body

    @precondition(has_images)
    @rule(ref=known, range_header=ranges)
    def download(self, ref: int, range_header: str | None) -> None:
        image_id, path = self.image(ref)
        headers = {} if range_header is None else {"Range": range_header}
        response = self.call("GET", f"{path}/file", headers=headers)
        data = self.uploaded.get(image_id)
        if response.status_code == 200:
            assert response.content == data
        elif response.status_code == 206:
            assert data is not None
            span, _, total = response.headers["content-range"].removeprefix("bytes ").partition("/")
            start, _, end = span.partition("-")
            assert int(total) == len(data)
            assert response.content == data[int(start) : int(end) + 1]

    # --------------------------------------------------------------- reading

    @rule(query=st.lists(st.tuples(list_keys, list_values), max_size=4))
    def list_images(self, query: list[tuple[str, str]]) -> None:
        self.call("GET", "/v2/images", params=query)

    @rule(ref=unknown, route=st.sampled_from(IMAGE_ROUTES), body=st.binary(max_size=8))
    def poke_unknown_image(self, ref: str, route: tuple[str, str], body: bytes) -> None:
        method, suffix = route
        self.call(method, f"/v2/images/{quote(ref, safe='')}{suffix}", content=body)

    def teardown(self) -> None:
        check_consistency(self.app, self.stored)


def test_random_call_sequences(make_settings: Any) -> None:
    # small blocks and quotas, so that short sequences reach block hand-overs and 413s
    app = Glimpse(
        make_settings(
            upload_buffer_size=4096,
            file_store_fsync=False,
            image_property_quota=6,
            image_tag_quota=5,
        )
    )
    # the app's housekeeping is not started: the store must be consistent without it
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://glimpse.test",
        headers={"Accept": "application/json"},
    )
    ApiSequence.app = app
    ApiSequence.client = client
    ApiSequence.loop = loop
    ApiSequence.stored = Stored(app.settings)
    try:
        run_state_machine_as_test(
            ApiSequence,
            settings=settings(
                max_examples=50,
                stateful_step_count=50,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            ),
        )
    finally:
        loop.run_until_complete(client.aclose())
        app.db.close()
        loop.close()
