"""A file store's data as local files a server may send as they are (``LocalFiles``),
whether or not the page cache holds them."""

from __future__ import annotations

import os
from pathlib import Path

from glimpse.stores.base import LocalFiles
from glimpse.stores.file import FileStore
from tests.support.store_data import put


async def test_a_file_is_offered_cached_or_not(tmp_path: Path) -> None:
    store = FileStore("file", tmp_path / "images", direct_io=True)
    assert isinstance(store, LocalFiles)
    data = os.urandom(8 << 20)
    location = await put(store, data)
    path = tmp_path / "images" / location.rsplit("/", 1)[1]
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert await store.local_file(location) == (str(path), len(data))
        assert os.read(fd, len(data) + 1) == data  # now in the page cache
    finally:
        os.close(fd)
    assert await store.local_file(location) == (str(path), len(data))


async def test_missing_data_is_not_offered(tmp_path: Path) -> None:
    store = FileStore("file", tmp_path)
    assert await store.local_file((tmp_path / "gone").as_uri()) is None
