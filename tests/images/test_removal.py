"""glimpse.images.removal.DataRemoval with a real file store: data is removed now; data
a store cannot remove is queued as orphaned and removed by a later retry; data no store
handles is left where it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from glimpse.db.engine import Database
from glimpse.db.tables import orphaned_data
from glimpse.images.removal import DataRemoval
from glimpse.model.images import Location
from glimpse.stores.file import FileStore
from glimpse.stores.registry import StoreRegistry
from tests.support.store_data import listed, put
from tests.support.units import rows
from tests.support.unwritable import unwritable


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore("fast", tmp_path / "fast", fsync=False)


@pytest.fixture
def other(tmp_path: Path) -> FileStore:
    return FileStore("slow", tmp_path / "slow", fsync=False)


@pytest.fixture
def removal(db: Database, store: FileStore, other: FileStore) -> DataRemoval:
    return DataRemoval(db, StoreRegistry([store, other]))


def orphans(db: Database) -> list[tuple[Any, ...]]:
    """(store, location) of every orphaned data row."""
    return rows(db, orphaned_data, "store", "location")


async def test_remove_deletes_the_data(
    db: Database, removal: DataRemoval, store: FileStore, other: FileStore
) -> None:
    doomed = await put(store, b"doomed")
    kept = await put(store, b"kept")
    elsewhere = await put(other, b"elsewhere")
    await removal.remove(Location(url=doomed, store="fast"))
    await removal.remove(Location(url=elsewhere, store=None))  # found by its URL
    assert await listed(store) == {kept}
    assert await listed(other) == set()
    assert orphans(db) == []


async def test_data_a_store_cannot_delete_is_orphaned_and_retried(
    db: Database, removal: DataRemoval, store: FileStore
) -> None:
    location = await put(store, b"stuck for now")
    with unwritable(store.directory):
        await removal.remove(Location(url=location, store=None))  # no exception
        assert await listed(store) == {location}
        assert orphans(db) == [("fast", location)]

        await removal.retry_orphans()  # still stuck: still queued
        assert await listed(store) == {location}
        assert orphans(db) == [("fast", location)]

    await removal.retry_orphans()
    assert await listed(store) == set()
    assert orphans(db) == []


@pytest.mark.parametrize(
    "url",
    ["swift://elsewhere/container/image", "file:///nowhere/known/image"],
)
async def test_data_no_store_handles_is_left_alone(
    db: Database, removal: DataRemoval, store: FileStore, url: str
) -> None:
    kept = await put(store, b"kept")
    await removal.remove(Location(url=url, store="fast"))
    assert orphans(db) == []
    assert await listed(store) == {kept}


async def test_a_file_outside_every_store_is_not_touched(
    db: Database, removal: DataRemoval, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious"
    precious.write_bytes(b"not ours")
    await removal.remove(Location(url=precious.as_uri(), store="fast"))
    assert precious.read_bytes() == b"not ours"
    assert orphans(db) == []
