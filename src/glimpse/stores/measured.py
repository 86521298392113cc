"""A store that counts and times what it is asked to do (Prometheus metrics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from glimpse.metrics import StoreTimer, timed_read
from glimpse.stores.base import Store, StoreWriter


class MeasuredWriter:
    def __init__(self, writer: StoreWriter, timer: StoreTimer) -> None:
        self._writer = writer
        self._timer = timer
        self.partial_location = writer.partial_location

    async def write(self, data: memoryview) -> None:
        await self._writer.write(data)

    async def adopt(self, location: str) -> bool:
        return await self._writer.adopt(location)

    async def commit(self) -> str:
        try:
            url = await self._writer.commit()
        except BaseException as exc:
            self._timer.done(exc)
            raise
        self._timer.done()
        return url

    async def abort(self) -> None:
        await self._writer.abort()


class MeasuredStore:
    """``store``, with each write (opening to commit), read, size and delete counted by
    outcome and timed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.name = store.name
        self.writable = store.writable

    def handles(self, location: str) -> bool:
        return self._store.handles(location)

    async def writer(self, image_id: str, size_hint: int | None) -> StoreWriter:
        timer = StoreTimer(self.name, "write")
        try:
            writer = await self._store.writer(image_id, size_hint)
        except BaseException as exc:
            timer.done(exc)
            raise
        return MeasuredWriter(writer, timer)

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        timer = StoreTimer(self.name, "read")
        try:
            chunks = await self._store.read(location, offset, length)
        except BaseException as exc:
            timer.done(exc)
            raise
        return timed_read(chunks, timer)

    async def size(self, location: str) -> int:
        timer = StoreTimer(self.name, "size")
        try:
            found = await self._store.size(location)
        except BaseException as exc:
            timer.done(exc)
            raise
        timer.done()
        return found

    async def delete(self, location: str) -> None:
        timer = StoreTimer(self.name, "delete")
        try:
            await self._store.delete(location)
        except BaseException as exc:
            timer.done(exc)
            raise
        timer.done()

    async def modified(self, location: str) -> float:
        return await self._store.modified(location)

    def objects(self) -> AsyncIterator[str]:
        return self._store.objects()

    async def check_removable(self, location: str) -> None:
        await self._store.check_removable(location)

    async def properties(self) -> dict[str, Any]:
        return await self._store.properties()

    async def probe(self) -> None:
        await self._store.probe()
