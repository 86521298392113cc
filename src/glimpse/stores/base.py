"""The one Store protocol every backend implements.

Stores only move bytes: they never hash, count or check quotas (the data pipeline in
``glimpse.image_data`` does that once for all of them), and they know nothing of the
database. A write goes to a temporary place that ``commit`` makes final and ``abort``
removes, so a failed upload leaves nothing behind. Every backend passes the one contract
suite in ``tests/stores/contract.py`` against its real server.

Errors: :class:`glimpse.errors.DataMissing` for data that is not there,
:class:`glimpse.errors.StorageFull` when the media is full, and
:class:`glimpse.errors.StoreUnavailable` for everything else that fails.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable


class StoreWriter(Protocol):
    # where the bytes are while the write is in flight (recorded in the upload lease so
    # that a dead node's partial data can be found and removed)
    partial_location: str

    async def write(self, data: memoryview) -> None:
        """Store the next bytes. ``data`` is reused once this returns: a store must be
        done with it (copied or sent) by then."""
        ...

    async def adopt(self, location: str) -> bool:
        """Make the data, before anything is written, another store's committed object at
        ``location`` without copying it (a hard link on the same file system), which the
        caller still commits; False when this store cannot, and the caller writes it."""
        ...

    async def commit(self) -> str:
        """Make the data final; returns the location URL to record on the image."""
        ...

    async def abort(self) -> None:
        """Remove whatever was written. Never raises."""
        ...


class Store(Protocol):
    name: str
    # False for stores that only read data others put there (HTTP locations)
    writable: bool

    def handles(self, location: str) -> bool:
        """Whether ``location`` is a URL of this store (its scheme and its place)."""
        ...

    async def writer(self, image_id: str, size_hint: int | None) -> StoreWriter: ...

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Open the data (raising DataMissing if it is gone) and return an iterator over
        ``length`` bytes (all, if None) from ``offset``."""
        ...

    async def size(self, location: str) -> int:
        """The number of bytes stored at ``location``; DataMissing if there are none."""
        ...

    async def modified(self, location: str) -> float:
        """When the data at ``location`` was last written (POSIX time); DataMissing if
        there is none. (How old a stray object is: glimpse verify's grace period.)"""
        ...

    async def delete(self, location: str) -> None:
        """Remove data; a location that is already gone is not an error."""
        ...

    async def check_removable(self, location: str) -> None:
        """Raise Conflict if others depend on the data at ``location`` (RBD clones of its
        snapshot), so that an image is not deleted from under them (409, as Glance)."""
        ...

    def objects(self) -> AsyncIterator[str]:
        """The location of everything the store holds, partial writes included (to find
        data no image owns)."""
        ...

    async def properties(self) -> dict[str, Any]:
        """This store's ``properties`` in ``/v2/info/stores/detail``: Glance's keys and
        values for its type."""
        ...

    async def probe(self) -> None:
        """Return if the store can be used now; StoreUnavailable saying why otherwise."""
        ...


@runtime_checkable
class LocalFiles(Protocol):
    """A store whose data are plain local files, which an HTTP server may send as they
    are (``sendfile``) instead of reading them through Python."""

    async def local_file(self, location: str) -> tuple[str, int] | None:
        """The path of the data at ``location`` and its size; None if there is none, or
        if it is better read through :meth:`Store.read`."""
        ...
