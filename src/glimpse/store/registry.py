"""The named stores of this deployment and which one is the default."""

from __future__ import annotations

from glimpse.config import Settings
from glimpse.errors import BadRequest
from glimpse.store.base import Store
from glimpse.store.file import FileStore


class StoreRegistry:
    def __init__(self, stores: list[Store]) -> None:
        if not stores:
            raise ValueError("at least one store must be configured")
        self._stores = {store.name: store for store in stores}
        self.default = stores[0]

    @property
    def names(self) -> list[str]:
        return list(self._stores)

    def get(self, name: str | None) -> Store:
        """The store an upload names (the default when it names none); 400 if unknown."""
        if name is None:
            return self.default
        try:
            return self._stores[name]
        except KeyError:
            raise BadRequest(f"Store for identifier {name} not found") from None

    def for_location(self, store_name: str | None) -> Store:
        return self._stores.get(store_name or "", self.default)


def build_stores(settings: Settings) -> StoreRegistry:
    # Only the file store exists so far; more backends register here.
    stores: list[Store] = [
        FileStore(
            "file",
            settings.resolved_file_store_dir,
            fsync=settings.file_store_fsync,
            direct_io=settings.file_store_direct_io,
        )
    ]
    return StoreRegistry(stores)
