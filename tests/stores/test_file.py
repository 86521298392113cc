"""The file store: the store contract, and what only a file store can get wrong."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from glimpse.errors import StoreUnavailable
from glimpse.stores.file import FileStore
from tests.stores.contract import StoreContract
from tests.support.store_data import get, listed, put
from tests.support.unwritable import unwritable


@pytest.fixture(params=["direct", "cached"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    return FileStore("file", tmp_path / "images", fsync=True, direct_io=request.param == "direct")


class TestFileStore(StoreContract):
    pass


async def test_locations_of_another_directory_are_not_its_own(
    store: FileStore, tmp_path: Path
) -> None:
    location = await put(store, b"data")
    other = FileStore("other", tmp_path / "elsewhere")
    assert store.handles(location) and not other.handles(location)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "frozen"
    directory.mkdir()
    with unwritable(directory):
        yield directory


async def test_an_unwritable_directory_is_unavailable(read_only_dir: Path) -> None:
    store = FileStore("file", read_only_dir)
    with pytest.raises(StoreUnavailable):
        await store.writer(str(uuid.uuid4()), 1)
    if os.geteuid() != 0:  # root passes access(2) checks whatever the attributes
        with pytest.raises(StoreUnavailable):
            await store.probe()
    assert await listed(store) == set()


async def test_reads_of_data_written_around_the_page_cache(store: FileStore) -> None:
    """Data written with O_DIRECT is read back right whether cached or not."""
    data = os.urandom(9 << 20)
    location = await put(store, data, piece=8 << 20)
    assert await get(store, location) == data
    assert await get(store, location, 4096, 8 << 20) == data[4096 : 4096 + (8 << 20)]
