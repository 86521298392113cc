"""The S3 store against a real S3 (Ceph RGW): the store contract, and what only an S3
store can get wrong (its layout, locations without secrets, multipart, buckets)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from glimpse.config import S3StoreSettings
from glimpse.errors import DataMissing, StorageFull, StoreUnavailable
from glimpse.image_data.ingest import ingest
from glimpse.memory import BUDGET
from glimpse.stores.s3 import S3Store
from tests.stores.contract import StoreContract
from tests.support.ceph import s3_bucket, s3_section
from tests.support.store_data import MiB, get, listed, put


def s3_store(bucket: str, **overrides: Any) -> S3Store:
    return S3Store("s3", S3StoreSettings(**s3_section(bucket, **overrides)))


@pytest.fixture
def bucket() -> Iterator[str]:
    with s3_bucket() as name:
        yield name


@pytest.fixture
def store(bucket: str) -> S3Store:
    return s3_store(bucket)


class TestS3Store(StoreContract):
    pass


async def test_glance_layout_and_no_secrets_in_locations(store: S3Store, bucket: str) -> None:
    image_id = str(uuid.uuid4())
    location = await put(store, b"data", image_id=image_id)
    host = os.environ["S3_ENDPOINT"].removeprefix("http://")
    assert location == f"s3://{host}/{bucket}/{image_id}"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in location
    # what Glance writes (credentials in the URL) is this store's data too
    glance = f"s3://{os.environ['AWS_ACCESS_KEY_ID']}:secret@{host}/{bucket}/{image_id}"
    assert store.handles(glance)
    assert await get(store, glance) == b"data"
    assert not store.handles(f"s3://{host}/other-bucket/{image_id}")
    assert not store.handles(f"s3://elsewhere:7480/{bucket}/{image_id}")
    assert not store.handles(f"s3://{host}/{bucket}/")


async def test_large_images_go_up_in_parts_within_the_budget(store: S3Store) -> None:
    data = os.urandom(17 * MiB + 5)
    writer = await store.writer(str(uuid.uuid4()), None)
    used = BUDGET.used
    assert used >= 2 * 5 * MiB  # two parts, paid for while the upload runs
    for start in range(0, len(data), MiB):
        await writer.write(memoryview(data[start : start + MiB]))
    location = await writer.commit()
    assert BUDGET.used == used - 2 * 5 * MiB
    assert await get(store, location) == data
    assert await store.size(location) == len(data)


async def test_parts_grow_to_fit_a_known_size(store: S3Store) -> None:
    writer = await store.writer(str(uuid.uuid4()), 100_000 * MiB)
    assert writer._part_size >= 10 * MiB
    await writer.abort()
    assert await listed(store) == set()


async def test_the_reaper_can_find_and_remove_a_partial_upload(store: S3Store) -> None:
    writer = await store.writer(str(uuid.uuid4()), None)
    await writer.write(memoryview(os.urandom(6 * MiB)))
    assert await listed(store) == {writer.partial_location}
    assert await store.modified(writer.partial_location) > 0
    with pytest.raises(DataMissing):
        await store.size(writer.partial_location)
    await store.delete(writer.partial_location)  # what the reaper does from the lease
    assert await listed(store) == set()
    with pytest.raises(DataMissing):
        await store.modified(writer.partial_location)
    await writer.abort()


async def test_a_missing_bucket(bucket: str) -> None:
    store = s3_store(bucket, s3_store_create_bucket_on_put=False)
    with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
        await store.writer(str(uuid.uuid4()), 1)
    with pytest.raises(StoreUnavailable):
        await store.probe()
    assert await listed(store) == set()
    location = store.url(str(uuid.uuid4()))
    with pytest.raises(DataMissing):
        await store.read(location)
    await store.delete(location)


async def test_reads_past_the_end_are_empty(store: S3Store) -> None:
    location = await put(store, b"")
    assert await get(store, location, 0, 10) == b""
    location = await put(store, b"abc")
    assert await get(store, location, 3) == b""


async def test_locations_of_other_stores_are_not_data(store: S3Store) -> None:
    with pytest.raises(DataMissing):
        await store.size("file:///tmp/x")
    with pytest.raises(DataMissing):
        await store.delete("file:///tmp/x")


async def test_an_unreachable_endpoint_is_unavailable(bucket: str) -> None:
    store = s3_store(bucket, s3_store_host="http://127.0.0.1:9")  # nothing listens
    with pytest.raises(StoreUnavailable):
        await store.probe()
    with pytest.raises(StoreUnavailable):
        await store.writer(str(uuid.uuid4()), 1)
    with pytest.raises(StoreUnavailable):
        await store.read(store.url("x"))
    with pytest.raises(StoreUnavailable):
        await store.size(store.url("x"))
    with pytest.raises(StoreUnavailable):
        await store.modified(store.url("x", "upload"))
    with pytest.raises(StoreUnavailable):
        await store.delete(store.url("x"))
    with pytest.raises(StoreUnavailable):
        await listed(store)


def test_https_endpoints_give_s3_https_locations(bucket: str) -> None:
    store = s3_store(bucket, s3_store_host="https://s3.example.com/")
    assert store.url("id") == f"s3+https://s3.example.com/{bucket}/id"
    assert store.handles(f"s3+https://s3.example.com/{bucket}/id")


async def test_a_read_left_half_way(store: S3Store) -> None:
    location = await put(store, os.urandom(9 * MiB))
    chunks = await store.read(location)
    assert len(await anext(chunks)) > 0
    await chunks.aclose()  # the client went away: the body is closed, the budget given back
    assert await store.size(location) == 9 * MiB


async def test_an_upload_removed_under_its_writer(store: S3Store) -> None:
    writer = await store.writer(str(uuid.uuid4()), None)
    await writer.write(memoryview(os.urandom(MiB)))
    await store.delete(writer.partial_location)  # a reaper that thought it dead
    with pytest.raises(StoreUnavailable, match="NoSuchUpload"):
        await writer.commit()
    assert await listed(store) == set()


async def test_a_host_without_a_scheme_is_http(bucket: str) -> None:
    host = os.environ["S3_ENDPOINT"].removeprefix("http://")
    store = s3_store(bucket, s3_store_host=host)
    location = await put(store, b"plain")
    assert location.startswith(f"s3://{host}/") and await get(store, location) == b"plain"


@pytest.fixture
def quota_user() -> Iterator[tuple[str, str]]:
    """An RGW user allowed 1 MiB in all (made with radosgw-admin, removed after)."""
    uid = f"quota-{uuid.uuid4().hex[:8]}"
    access, secret = f"Q{uuid.uuid4().hex[:19].upper()}", uuid.uuid4().hex * 2
    admin = ["radosgw-admin", "-c", os.environ["CEPH_CONF"]]
    keys = [f"--access-key={access}", f"--secret-key={secret}"]
    steps = [
        ["user", "create", f"--uid={uid}", f"--display-name={uid}", *keys],
        ["quota", "set", "--quota-scope=user", f"--uid={uid}", "--max-size=1048576"],
        ["quota", "enable", "--quota-scope=user", f"--uid={uid}"],
    ]
    for step in steps:
        subprocess.run([*admin, *step], check=True, capture_output=True)
    yield access, secret
    # (its bucket goes with it, before the bucket fixture's own clean-up)
    subprocess.run([*admin, "user", "rm", f"--uid={uid}", "--purge-data"], capture_output=True)


async def test_a_quota_refusal_is_storage_full(bucket: str, quota_user: tuple[str, str]) -> None:
    access, secret = quota_user
    store = s3_store(bucket, s3_store_access_key=access, s3_store_secret_key=secret)
    with pytest.raises(StorageFull, match="QuotaExceeded"):
        await put(store, os.urandom(6 * MiB))
    assert await listed(store) == set()


async def test_an_upload_holding_its_parts_gets_its_blocks(store: S3Store) -> None:
    """The writer's parts fill a small budget; the upload's blocks, taken after them,
    must not wait for room (they would wait forever: on the upload itself)."""
    total, BUDGET.total = BUDGET.total, 2 * 5 * MiB  # two of the smallest parts
    try:
        data = os.urandom(20 * MiB + 3)
        writer = await store.writer(str(uuid.uuid4()), None)
        assert BUDGET.used >= BUDGET.total  # the parts alone take all of it

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(data), MiB):
                yield data[start : start + MiB]

        try:
            found = await asyncio.wait_for(
                ingest(body(), writer, limit=len(data), hash_algo="sha512", format_check=None,
                       block_size=8 * MiB),
                60,
            )  # fmt: skip
        except BaseException:
            await writer.abort()  # its parts back to the budget, its multipart gone
            raise
        location = await writer.commit()
    finally:
        BUDGET.total = total
    assert found.size == len(data) and found.checksum == hashlib.md5(data).hexdigest()
    assert await get(store, location) == data
    assert BUDGET.used == 0
