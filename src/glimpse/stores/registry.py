"""The named stores of this deployment, which one is the default, and which store holds
the data at a location."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

from glimpse.config import (
    STAGING_STORE_NAME,
    FileStoreSettings,
    HttpStoreSettings,
    RbdStoreSettings,
    S3StoreSettings,
    Settings,
    StoreSettings,
    SwiftStoreSettings,
)
from glimpse.errors import InvalidInput, StoreUnavailable
from glimpse.model.images import Location
from glimpse.stores.base import Store
from glimpse.stores.file import FileStore
from glimpse.stores.http import HttpStore
from glimpse.stores.measured import MeasuredStore
from glimpse.stores.swift import KeystoneScope, MiB, SwiftAccount, SwiftStore
from glimpse.stores.web_guard import WebGuard


class StoreRegistry:
    def __init__(
        self,
        stores: list[Store],
        sections: Mapping[str, StoreSettings] | None = None,
        *,
        multi: bool = False,
        staging: Store | None = None,
    ) -> None:
        if not stores:
            raise ValueError("at least one store must be configured")
        self._stores = {store.name: store for store in stores}
        self.default = stores[0]
        # the settings each store was built from (weights, descriptions, details)
        self.sections: Mapping[str, StoreSettings] = sections or {}
        # Glance's multi-store mode: stores are named to callers
        self.multi = multi
        # where staged import data waits (never listed, never an import target)
        self.staging = staging

    def __iter__(self) -> Iterator[Store]:
        return iter(self._stores.values())

    def get(self, name: str) -> Store | None:
        return self._stores.get(name)

    def weight(self, name: str | None) -> int:
        section = self.sections.get(name or "")
        return section.weight if section is not None else 0

    def reading_order(
        self, locations: Sequence[Location], prefer: Sequence[str] = ()
    ) -> list[Location]:
        """Where to read an image's data from, best first: the stores a caller prefers
        (in the order named), then by weight, highest first; ties keep their order."""
        ranked = {name: rank for rank, name in enumerate(prefer)}

        def key(location: Location) -> tuple[int, int]:
            return ranked.get(location.store or "", len(ranked)), -self.weight(location.store)

        return sorted(locations, key=key)

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
        if self.staging is not None and self.staging.handles(location.url):
            return self.staging
        raise StoreUnavailable(f"No configured store handles the location {location.url}")


def build_store(name: str, settings: StoreSettings, guard: WebGuard | None = None) -> Store:
    if isinstance(settings, HttpStoreSettings):
        if guard is None:
            raise AssertionError(f"the http store {name} needs the web guard")
        return HttpStore(name, guard)
    if isinstance(settings, FileStoreSettings):
        return FileStore(
            name, settings.directory, fsync=settings.fsync, direct_io=settings.direct_io
        )
    if isinstance(settings, S3StoreSettings):
        from glimpse.stores.s3 import S3Store  # boto3 costs a quarter second to import

        return S3Store(name, settings)
    if isinstance(settings, SwiftStoreSettings):
        keystone = None
        if settings.auth_version != "1":  # the section's options of the same names
            scope = {field.name for field in dataclasses.fields(KeystoneScope)}
            keystone = KeystoneScope(**settings.model_dump(include=scope))
        account = SwiftAccount(
            settings.auth_address,
            settings.user,
            settings.key.get_secret_value(),
            timeout=settings.timeout_seconds,
            retries=settings.retries,
            keystone=keystone,
        )
        return SwiftStore(
            name,
            account,
            container=settings.container,
            multiple_containers_seed=settings.multiple_containers_seed,
            create_container_on_put=settings.create_container_on_put,
            large_object_size=settings.large_object_size * MiB,
            large_object_chunk_size=settings.large_object_chunk_size * MiB,
            reference=settings.reference,
        )
    if isinstance(settings, RbdStoreSettings):
        from glimpse.stores.rbd import RbdStore  # Ceph's bindings: only where used

        return RbdStore(name, settings)
    raise AssertionError(f"no backend for store type {settings.type!r}")


def build_stores(settings: Settings) -> StoreRegistry:
    """Every configured store; the default one first."""
    sections = settings.resolved_stores
    guard = WebGuard(settings)
    stores = [build_store(name, section, guard) for name, section in sections.items()]
    if settings.metrics != "off":
        stores = [MeasuredStore(store) for store in stores]
    return StoreRegistry(
        stores,
        sections,
        multi=settings.multi_store,
        staging=build_store(STAGING_STORE_NAME, settings.staging_store),
    )
