"""glimpse.stores.registry: which store an upload writes to, which store holds a
location, and the stores settings describe (the default one first)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from glimpse.config import Settings
from glimpse.errors import InvalidInput, StoreUnavailable
from glimpse.model.images import Location
from glimpse.stores.file import FileStore
from glimpse.stores.http import HttpStore
from glimpse.stores.registry import StoreRegistry, build_stores
from tests.support.store_data import get, put


@pytest.fixture
def fast(tmp_path: Path) -> FileStore:
    return FileStore("fast", tmp_path / "fast", fsync=False)


@pytest.fixture
def slow(tmp_path: Path) -> FileStore:
    return FileStore("slow", tmp_path / "slow", fsync=False)


@pytest.fixture
def registry(fast: FileStore, slow: FileStore) -> StoreRegistry:
    return StoreRegistry([fast, slow])


def test_the_first_store_is_the_default(registry: StoreRegistry, fast: FileStore) -> None:
    assert registry.default is fast
    assert [store.name for store in registry] == ["fast", "slow"]


def test_no_stores_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one store"):
        StoreRegistry([])


def test_for_writing(registry: StoreRegistry, fast: FileStore, slow: FileStore) -> None:
    assert registry.for_writing(None) is fast
    assert registry.for_writing("fast") is fast
    assert registry.for_writing("slow") is slow


@pytest.mark.parametrize("name", ["unknown", "", "FAST"])
def test_writing_to_an_unknown_store_is_a_bad_request(registry: StoreRegistry, name: str) -> None:
    with pytest.raises(InvalidInput, match=f"^Store for identifier {name} not found$"):
        registry.for_writing(name)


async def test_for_location_by_the_store_it_names(
    registry: StoreRegistry, fast: FileStore, slow: FileStore
) -> None:
    in_fast, in_slow = await put(fast, b"fast"), await put(slow, b"slow")
    assert registry.for_location(Location(url=in_fast, store="fast")) is fast
    assert registry.for_location(Location(url=in_slow, store="slow")) is slow


@pytest.mark.parametrize("named", [None, "gone-store", "fast"])
async def test_for_location_by_url_when_the_name_does_not_fit(
    registry: StoreRegistry, slow: FileStore, named: str | None
) -> None:
    """No name, the name of a store no longer configured, or of a store whose URLs it is
    not: the store whose URLs it is holds it."""
    location = Location(url=await put(slow, b"data"), store=named)
    found = registry.for_location(location)
    assert found is slow
    assert await get(found, location.url) == b"data"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("swift://container/image", None),
        ("http://example.com/image", "fast"),
        ("file:///somewhere/else/image", "slow"),
    ],
)
def test_a_location_no_store_handles_is_unavailable(
    registry: StoreRegistry, url: str, named: str | None
) -> None:
    with pytest.raises(StoreUnavailable, match=re.escape(url)):
        registry.for_location(Location(url=url, store=named))


def test_build_stores_from_flat_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        file_store_dir=tmp_path / "flat",
        file_store_fsync=False,
        file_store_direct_io=False,
    )
    registry = build_stores(settings)
    store, web = list(registry)
    assert isinstance(store, FileStore)
    assert isinstance(web, HttpStore) and not web.writable
    assert (store.name, store.directory, store.fsync, store.direct_io) == (
        "file",
        tmp_path / "flat",
        False,
        False,
    )
    assert registry.default is store


def test_build_stores_flat_defaults(tmp_path: Path) -> None:
    # beside the file store, Glance's default http store (read-only) for HTTP locations
    store, web = list(build_stores(Settings(data_dir=tmp_path)))
    assert isinstance(store, FileStore)
    assert (web.name, web.writable) == ("http", False)
    assert (store.name, store.directory, store.fsync) == ("file", tmp_path / "images", True)


@pytest.mark.parametrize(("default", "order"), [(None, ["a", "b", "c"]), ("b", ["b", "a", "c"])])
def test_build_stores_from_sections(tmp_path: Path, default: str | None, order: list[str]) -> None:
    settings = Settings(
        data_dir=tmp_path,
        default_store=default,
        stores={
            "a": {"type": "file", "directory": tmp_path / "a"},
            "b": {"type": "file", "directory": tmp_path / "b", "fsync": False},
            "c": {"type": "file", "directory": tmp_path / "c", "direct_io": False},
        },
    )
    registry = build_stores(settings)
    assert [store.name for store in registry] == order
    assert registry.default.name == order[0]
    assert registry.for_writing(None).name == order[0]
    files = {store.name: store for store in registry if isinstance(store, FileStore)}
    assert sorted(files) == ["a", "b", "c"]
    assert [files[name].directory for name in "abc"] == [tmp_path / name for name in "abc"]
    assert [files[name].fsync for name in "abc"] == [True, False, True]
    assert [files[name].direct_io for name in "abc"] == [True, True, False]
