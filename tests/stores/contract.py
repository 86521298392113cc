"""The store contract: what every backend must do, run against its real server.

A backend's test module subclasses :class:`StoreContract` and provides a ``store``
fixture (a fresh, empty store on the real server) and, where the backend can be made to
fail, nothing else: every test here uses only the Store protocol.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import pytest

from glimpse.errors import DataMissing
from glimpse.stores.base import Store
from tests.support.store_data import MiB, get, listed, put


class StoreContract:
    """Every test gets the ``store`` fixture of the backend's module."""

    @pytest.mark.parametrize("size", [0, 1, 4095, 4096, MiB + 17, 5 * MiB + 3])
    async def test_what_is_written_is_read_back(self, store: Store, size: int) -> None:
        data = os.urandom(size)
        location = await put(store, data)
        assert store.handles(location)
        assert await get(store, location) == data
        assert await store.size(location) == size
        assert await listed(store) == {location}

    @pytest.mark.parametrize(
        ("offset", "length"),
        [(0, 1), (0, None), (1, 10), (MiB - 1, 2), (2 * MiB + 5, MiB), (3 * MiB, None)],
    )
    async def test_ranged_reads(self, store: Store, offset: int, length: int | None) -> None:
        data = os.urandom(3 * MiB + 11)
        location = await put(store, data)
        end = None if length is None else offset + length
        assert await get(store, location, offset, length) == data[offset:end]

    async def test_any_buffer_will_do(self, store: Store) -> None:
        data = os.urandom(2 * MiB + 100)
        location = await put(store, data, aligned=False, piece=MiB + 1)
        assert await get(store, location) == data

    async def test_delete_removes_and_is_idempotent(self, store: Store) -> None:
        location = await put(store, b"gone soon")
        await store.delete(location)
        assert await listed(store) == set()
        with pytest.raises(DataMissing):
            await get(store, location)
        await store.delete(location)  # already gone: not an error

    async def test_data_no_one_depends_on_is_removable(self, store: Store) -> None:
        location = await put(store, b"alone")
        await store.check_removable(location)
        await store.delete(location)
        await store.check_removable(location)  # gone already: nothing to refuse

    async def test_abort_leaves_nothing(self, store: Store) -> None:
        writer = await store.writer(str(uuid.uuid4()), None)
        await writer.write(memoryview(os.urandom(MiB)))
        assert await listed(store) != set()  # the partial data is there, and listed
        await writer.abort()
        assert await listed(store) == set()
        await writer.abort()  # twice: still never raises

    async def test_abort_before_any_write(self, store: Store) -> None:
        writer = await store.writer(str(uuid.uuid4()), 0)
        await writer.abort()
        assert await listed(store) == set()

    async def test_missing_object(self, store: Store) -> None:
        location = await put(store, b"x")
        await store.delete(location)
        with pytest.raises(DataMissing):
            await store.read(location)
        with pytest.raises(DataMissing):
            await store.size(location)
        with pytest.raises(DataMissing):
            await store.modified(location)

    async def test_modified_is_when_the_data_was_written(self, store: Store) -> None:
        before = time.time()
        location = await put(store, b"x")
        # a little slack for clocks of remote stores
        assert before - 5 <= await store.modified(location) <= time.time() + 5

    async def test_concurrent_writers_do_not_mix(self, store: Store) -> None:
        blobs = {str(uuid.uuid4()): os.urandom(2 * MiB + n) for n in range(6)}
        locations = await asyncio.gather(
            *(
                put(store, data, image_id=image_id, piece=64 << 10)
                for image_id, data in blobs.items()
            )
        )
        for location, data in zip(locations, blobs.values(), strict=True):
            assert await get(store, location) == data
        assert await listed(store) == set(locations)

    async def test_what_it_cannot_adopt_it_writes(self, store: Store) -> None:
        writer = await store.writer(str(uuid.uuid4()), 4)
        assert not await writer.adopt("http://127.0.0.1:9/not-a-store-object")
        await writer.write(memoryview(b"data"))
        assert await get(store, await writer.commit()) == b"data"

    async def test_two_writers_of_one_image_are_apart(self, store: Store) -> None:
        image_id = str(uuid.uuid4())
        first = await store.writer(image_id, None)
        second = await store.writer(image_id, None)
        assert first.partial_location != second.partial_location
        await first.write(memoryview(b"first"))
        await second.write(memoryview(b"second"))
        await first.abort()
        location = await second.commit()
        assert await get(store, location) == b"second"
        assert await listed(store) == {location}

    async def test_probe_says_the_store_works(self, store: Store) -> None:
        await store.probe()

    async def test_locations_of_other_places_are_not_its_own(self, store: Store) -> None:
        assert not store.handles("http://example.com/image")
        assert not store.handles("swift://elsewhere/image")

    async def test_writable(self, store: Store) -> None:
        assert store.writable is True
