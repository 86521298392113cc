"""The named stores of this deployment, which one is the default, and which store holds
the data at a location."""

from __future__ import annotations

from collections.abc import Iterator

from glimpse.config import FileStoreSettings, Settings, StoreSettings
from glimpse.errors import InvalidInput, StoreUnavailable
from glimpse.model.images import Location
from glimpse.stores.base import Store
from glimpse.stores.file import FileStore


class StoreRegistry:
    def __init__(self, stores: list[Store]) -> None:
        if not stores:
            raise ValueError("at least one store must be configured")
        self._stores = {store.name: store for store in stores}
        self.default = stores[0]

    def __iter__(self) -> Iterator[Store]:
        return iter(self._stores.values())

    def for_writing(self, name: str | None) -> Store:
        """The store an upload names (the default when it names none); 400 if unknown
        or read-only."""
        if name is None:
            return self.default
        store = self._stores.get(name)
        if store is None or not store.writable:
            raise InvalidInput(f"Store for identifier {name} not found")
        return store

    def for_location(self, location: Location) -> Store:
        """The store holding ``location``: the one it names, else the one whose URLs it
        matches. Data no configured store handles cannot be reached (503), never looked
        for in another store."""
        store = self._stores.get(location.store or "")
        if store is not None and store.handles(location.url):
            return store
        for store in self._stores.values():
            if store.handles(location.url):
                return store
        raise StoreUnavailable(f"No configured store handles the location {location.url}")


def build_store(name: str, settings: StoreSettings) -> Store:
    if isinstance(settings, FileStoreSettings):
        return FileStore(
            name, settings.directory, fsync=settings.fsync, direct_io=settings.direct_io
        )
    raise AssertionError(f"no backend for store type {settings.type!r}")


def build_stores(settings: Settings) -> StoreRegistry:
    """Every configured store; the default one first."""
    return StoreRegistry(
        [build_store(name, section) for name, section in settings.resolved_stores.items()]
    )
