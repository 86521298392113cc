"""glimpse.image_data.ingest.ingest into a real file store: what it counts, hashes and
stores for sizes around the block size and any chunking; the size limit, the declared
size and ``still_wanted`` stopping it; and format inspection's virtual size."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from glimpse.errors import (
    DataFormatMismatch,
    ImageDeleted,
    InvalidInput,
    LimitExceeded,
    StoreUnavailable,
)
from glimpse.image_data.ingest import Ingested, ingest
from glimpse.image_data.inspection import FormatCheck
from glimpse.stores.file import FileStore, FileWriter
from tests.support.disk_images import qcow2
from tests.support.file_size_limit import file_size_limit
from tests.support.store_data import get, listed

KiB = 1 << 10
MiB = 1 << 20
BIG = 1 << 40


@pytest.fixture(params=["direct", "cached"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    return FileStore("file", tmp_path / "images", fsync=False, direct_io=request.param == "direct")


class Body:
    """A request body: ``data`` in chunks of ``chunk`` bytes; counts what was pulled."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data = data
        self.chunk = chunk
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            self.pulled += 1
            yield self.data[start : start + self.chunk]

    @property
    def chunks(self) -> int:
        return -(-len(self.data) // self.chunk)


async def run(
    store: FileStore,
    body: Body,
    *,
    block_size: int,
    limit: int = BIG,
    hash_algo: str = "sha512",
    format_check: FormatCheck | None = None,
    declared_size: int | None = None,
    still_wanted: Callable[[], None] = lambda: None,
) -> tuple[Ingested, FileWriter]:
    writer = await store.writer("image", len(body.data))
    try:
        found = await ingest(
            aiter(body),
            writer,
            limit=limit,
            hash_algo=hash_algo,
            format_check=format_check,
            block_size=block_size,
            declared_size=declared_size,
            still_wanted=still_wanted,
        )
    except BaseException:
        await writer.abort()
        raise
    return found, writer


@pytest.mark.parametrize(
    ("block_size", "size", "chunk"),
    [
        (4 * KiB, 0, 1000),
        (4 * KiB, 1, 1000),
        (4 * KiB, 4 * KiB - 1, 1000),
        (4 * KiB, 4 * KiB, 4 * KiB),
        (4 * KiB, 4 * KiB + 1, 4 * KiB),
        (4 * KiB, 3 * 4 * KiB + 5, 1500),
        (4 * KiB, 5 * 4 * KiB, 7 * 4 * KiB),  # chunks bigger than a block
        (4 * KiB, 9 * 4 * KiB + 3, 1),  # a byte at a time
        (MiB, MiB - 1, 64 * KiB),
        (MiB, MiB, MiB),
        (MiB, MiB + 1, 100_000),
        (MiB, 3 * MiB + 17, 3 * MiB + 17),
    ],
)
async def test_counts_hashes_and_stores_every_byte(
    store: FileStore, block_size: int, size: int, chunk: int
) -> None:
    data = os.urandom(size)
    found, writer = await run(store, Body(data, chunk), block_size=block_size)
    assert found == Ingested(
        size=size,
        checksum=hashlib.md5(data).hexdigest(),
        hash_algo="sha512",
        hash_value=hashlib.sha512(data).hexdigest(),
        virtual_size=None,
    )
    location = await writer.commit()
    assert await get(store, location) == data
    assert await listed(store) == {location}


async def test_the_multihash_is_the_one_asked_for(store: FileStore) -> None:
    data = os.urandom(10 * KiB)
    found, writer = await run(store, Body(data, 3000), block_size=4 * KiB, hash_algo="sha256")
    await writer.abort()
    assert (found.hash_algo, found.hash_value) == ("sha256", hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize("size", [4 * KiB, 10 * KiB + 1, MiB + 1])
async def test_data_at_the_limit_is_accepted(store: FileStore, size: int) -> None:
    data = os.urandom(size)
    found, writer = await run(store, Body(data, 3000), block_size=4 * KiB, limit=size)
    assert found.size == size
    assert await get(store, await writer.commit()) == data


@pytest.mark.parametrize(("size", "limit"), [(1, 0), (4 * KiB + 1, 4 * KiB), (MiB, MiB - 1)])
async def test_data_beyond_the_limit_is_refused_and_nothing_stays(
    store: FileStore, size: int, limit: int
) -> None:
    body = Body(os.urandom(size), 1000)
    with pytest.raises(LimitExceeded, match=f"{limit} bytes"):
        await run(store, body, block_size=4 * KiB, limit=limit)  # aborts the writer
    assert await listed(store) == set()
    assert body.pulled == limit // body.chunk + 1  # not read past the chunk over the limit


@pytest.mark.parametrize(("size", "declared"), [(100, 99), (99, 100), (0, 1), (4 * KiB, 0)])
async def test_data_of_another_size_than_declared_is_refused(
    store: FileStore, size: int, declared: int
) -> None:
    body = Body(os.urandom(size), 1000)
    with pytest.raises(InvalidInput, match=rf"\({size}\).*\({declared}\)"):
        await run(store, body, block_size=4 * KiB, declared_size=declared)
    assert await listed(store) == set()


async def test_the_declared_size_when_right(store: FileStore) -> None:
    data = os.urandom(5000)
    found, writer = await run(store, Body(data, 1000), block_size=4 * KiB, declared_size=5000)
    await writer.abort()
    assert found.size == 5000


async def test_still_wanted_raising_stops_the_ingest(store: FileStore) -> None:
    asked: list[int] = []

    def still_wanted() -> None:
        asked.append(1)
        if len(asked) == 2:
            raise ImageDeleted("Image was deleted during the upload.")

    body = Body(os.urandom(10 * 4 * KiB), 4 * KiB)
    with pytest.raises(ImageDeleted, match="deleted during the upload"):
        await run(store, body, block_size=4 * KiB, still_wanted=still_wanted)
    assert len(asked) == 2  # not asked again once it said no
    assert body.pulled < body.chunks  # the rest of the body was never read
    assert await listed(store) == set()


async def test_still_wanted_is_asked_after_the_last_block_too(store: FileStore) -> None:
    """An image deleted while its last bytes were written is not reported ingested."""
    asked: list[int] = []

    def still_wanted() -> None:
        asked.append(1)
        if len(asked) > 1:
            raise ImageDeleted("gone")

    with pytest.raises(ImageDeleted):
        await run(store, Body(os.urandom(100), 100), block_size=4 * KiB, still_wanted=still_wanted)


async def test_a_store_failing_mid_write_fails_the_ingest_with_its_own_error(
    store: FileStore,
) -> None:
    """The store's error reaches the caller (a 503, or a 413 for a full store, at the
    HTTP edge) even when it comes while the same block is still being hashed on other
    threads (a big block, and a write that fails at once)."""
    data = os.urandom(16 * MiB)
    writer = await store.writer("image", len(data))
    try:
        with file_size_limit(0), pytest.raises(StoreUnavailable, match="could not write"):
            await ingest(
                aiter(Body(data, MiB)),
                writer,
                limit=BIG,
                hash_algo="sha512",
                format_check=None,
                block_size=16 * MiB,
            )
    finally:
        await writer.abort()
    assert await listed(store) == set()


@pytest.mark.parametrize("block_size", [4 * KiB, MiB])
async def test_a_qcow2_image_gets_its_virtual_size(store: FileStore, block_size: int) -> None:
    data = qcow2(10 << 30)
    check = FormatCheck("qcow2", require_match=True)
    found, writer = await run(store, Body(data, 5000), block_size=block_size, format_check=check)
    assert found.virtual_size == 10 << 30
    assert found.size == len(data)
    assert await get(store, await writer.commit()) == data


async def test_a_qcow2_with_a_backing_file_is_refused(store: FileStore) -> None:
    check = FormatCheck("qcow2", require_match=True)
    with pytest.raises(DataFormatMismatch):
        await run(
            store,
            Body(qcow2(1 << 30, backing_file=True), 5000),
            block_size=4 * KiB,
            format_check=check,
        )
    assert await listed(store) == set()


async def test_data_of_another_format_than_declared(store: FileStore) -> None:
    data = qcow2(1 << 30)
    strict = FormatCheck("vmdk", require_match=True)
    with pytest.raises(DataFormatMismatch, match="vmdk"):
        await run(store, Body(data, 5000), block_size=4 * KiB, format_check=strict)
    lenient = FormatCheck("vmdk", require_match=False)
    found, writer = await run(store, Body(data, 5000), block_size=4 * KiB, format_check=lenient)
    await writer.abort()
    assert found.virtual_size is None


async def test_raw_data_has_its_own_size_as_virtual_size(store: FileStore) -> None:
    data = os.urandom(3 * 4 * KiB + 7)
    check = FormatCheck("raw", require_match=True)
    found, writer = await run(store, Body(data, 5000), block_size=4 * KiB, format_check=check)
    await writer.abort()
    assert found.virtual_size == len(data)
