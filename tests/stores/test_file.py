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


async def test_another_store_s_file_is_adopted_as_a_link(store: FileStore, tmp_path: Path) -> None:
    staging = FileStore("staging", tmp_path / "staging")
    data = os.urandom(3 << 20)
    staged = await put(staging, data)
    writer = await store.writer(str(uuid.uuid4()), len(data))
    assert await writer.adopt(staged)
    location = await writer.commit()
    assert await get(store, location) == data
    assert os.stat(store._path(location)).st_ino == os.stat(staging._path(staged)).st_ino
    await staging.delete(staged)  # the staged name goes; the store's copy stays
    assert await get(store, location) == data
    assert [p.name for p in store.directory.iterdir()] == [store._path(location).name]


async def test_an_adopted_file_given_up_leaves_its_source(store: FileStore, tmp_path: Path) -> None:
    staging = FileStore("staging", tmp_path / "staging")
    staged = await put(staging, b"staged")
    writer = await store.writer(str(uuid.uuid4()), 6)
    assert await writer.adopt(staged)
    await writer.abort()
    assert list(store.directory.iterdir()) == []
    assert await get(staging, staged) == b"staged"


async def test_what_cannot_be_linked_is_written_instead(store: FileStore, tmp_path: Path) -> None:
    """Not a file URL, another file system, or a link refused: False, and the writer
    still takes the bytes itself."""
    shm = Path("/dev/shm")
    elsewhere = None
    if shm.is_dir() and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        elsewhere = FileStore("shm", shm / f"glimpse-test-{uuid.uuid4()}")
    (tmp_path / "a-directory").mkdir()  # same file system, but no hard link to it
    sources = ["http://127.0.0.1/image", (tmp_path / "a-directory").as_uri()]
    try:
        if elsewhere is not None:
            sources.append(await put(elsewhere, b"on tmpfs"))
        for source in sources:
            writer = await store.writer(str(uuid.uuid4()), 4)
            assert not await writer.adopt(source)
            await writer.write(memoryview(b"data"))
            assert await get(store, await writer.commit()) == b"data"
    finally:
        if elsewhere is not None:
            for path in elsewhere.directory.iterdir():
                path.unlink()
            elsewhere.directory.rmdir()


async def test_a_missing_source_is_a_store_error(store: FileStore, tmp_path: Path) -> None:
    writer = await store.writer(str(uuid.uuid4()), 4)
    with pytest.raises(StoreUnavailable):
        await writer.adopt((tmp_path / "gone").as_uri())
    await writer.abort()
