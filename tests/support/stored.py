"""What a deployment's stores hold, asked through the store protocol, so that no test
depends on how a store lays out its data."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import create_engine, select

from glimpse.config import Settings
from glimpse.db.tables import image_locations
from glimpse.model.images import Location
from glimpse.stores.registry import build_stores
from tests.support.server import ServerProcess

T = TypeVar("T")


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a loop of its own (callable from sync and async
    tests alike)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


class Stored:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stores = build_stores(settings)

    @classmethod
    def of_server(cls, server: ServerProcess) -> Stored:
        """The stores of a ``glimpse serve`` process started by the tests."""
        values: dict[str, Any] = {"data_dir": server.data_dir}
        if "GLIMPSE_DATABASE_URL" in server.env:
            values["database_url"] = server.env["GLIMPSE_DATABASE_URL"]
        return cls(Settings(**values))

    def _locations(self, image_id: str | None = None) -> list[Location]:
        engine = create_engine(self.settings.resolved_database_url)
        try:
            query = select(image_locations.c.url, image_locations.c.store)
            if image_id is not None:
                query = query.where(image_locations.c.image_id == image_id)
            with engine.connect() as conn:
                return [Location(url=r.url, store=r.store) for r in conn.execute(query)]
        finally:
            engine.dispose()

    async def _objects(self) -> set[str]:
        return {location for store in self.stores async for location in store.objects()}

    def objects(self) -> set[str]:
        """Everything the stores hold, partial writes included."""
        return _run(self._objects())

    def leftovers(self) -> set[str]:
        """What the stores hold that no image records: partial or abandoned data."""
        return self.objects() - {location.url for location in self._locations()}

    def data_of(self, image_id: str) -> bytes | None:
        """The bytes stored for an image (None if it has no location)."""
        found = self._locations(image_id)
        if not found:
            return None

        async def read() -> bytes:
            store = self.stores.for_location(found[0])
            return b"".join([chunk async for chunk in await store.read(found[0].url)])

        return _run(read())

    def remove_everything(self) -> None:
        async def remove() -> None:
            for store in self.stores:
                for location in [found async for found in store.objects()]:
                    await store.delete(location)

        _run(remove())

    def remove_data_of(self, image_id: str) -> None:
        """Delete an image's bytes behind glimpse's back (a store that lost them)."""
        for location in self._locations(image_id):
            _run(self.stores.for_location(location).delete(location.url))
