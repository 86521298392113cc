"""The one Store protocol every backend implements.

Stores only move bytes: they never hash, count or check quotas (the data pipeline in
``glimpse.images.data`` does that once for all of them). A write goes to a temporary
place that ``commit`` makes final and ``abort`` removes, so a failed upload leaves
nothing behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from glimpse.errors import NotFound


class DataMissing(NotFound):
    """The store has no data at a location the database records."""


class StoreWriter(Protocol):
    # where the bytes are while the write is in flight (recorded in the upload lease so
    # that a dead node's partial data can be found and removed)
    partial_location: str

    async def write(self, data: memoryview) -> None:
        """Store the next bytes. ``data`` is reused once this returns: a store must be
        done with it (copied or sent) by then."""
        ...

    async def commit(self) -> str:
        """Make the data final; returns the location URL to record on the image."""
        ...

    async def abort(self) -> None:
        """Remove whatever was written. Never raises."""
        ...


class Store(Protocol):
    name: str

    async def writer(self, image_id: str, size_hint: int | None) -> StoreWriter: ...

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Open the data (raising :class:`DataMissing` if it is gone) and return an
        iterator over ``length`` bytes (all, if None) from ``offset``."""
        ...

    async def delete(self, location: str) -> None:
        """Remove data; a location that is already gone is not an error."""
        ...
