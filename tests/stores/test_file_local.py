"""A file store's data as local files a server may send as they are (``LocalFiles``):
only while the page cache holds them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from glimpse.stores.base import LocalFiles
from glimpse.stores.file import FileStore
from glimpse.stores.page_cache import cached_fraction
from tests.support.store_data import put


def _kernel_tells(directory: Path) -> bool:
    probe = directory / "probe"
    probe.write_bytes(b"x" * 4096)
    fd = os.open(probe, os.O_RDONLY)
    try:
        return cached_fraction(fd, 0, 4096) is not None
    finally:
        os.close(fd)
        probe.unlink()


async def test_a_file_is_offered_once_the_page_cache_holds_it(tmp_path: Path) -> None:
    if not _kernel_tells(tmp_path):
        pytest.skip("this kernel has no cachestat (Linux >= 6.5) or forbids it")
    store = FileStore("file", tmp_path / "images", direct_io=True)
    assert isinstance(store, LocalFiles)
    data = os.urandom(8 << 20)
    location = await put(store, data)
    path = tmp_path / "images" / location.rsplit("/", 1)[1]
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert await store.local_file(location) is None
        assert os.read(fd, len(data) + 1) == data  # now in the page cache
    finally:
        os.close(fd)
    assert await store.local_file(location) == (str(path), len(data))


async def test_missing_data_is_not_offered(tmp_path: Path) -> None:
    store = FileStore("file", tmp_path)
    assert await store.local_file((tmp_path / "gone").as_uri()) is None
