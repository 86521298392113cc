"""Bytes into and out of a store through the store protocol only."""

from __future__ import annotations

import mmap
import uuid

from glimpse.stores.base import Store

MiB = 1 << 20


async def put(
    store: Store,
    data: bytes,
    *,
    image_id: str | None = None,
    piece: int = MiB,
    aligned: bool = True,
) -> str:
    """Write ``data`` in pieces through one reused buffer, as the ingest pipeline does
    (a page-aligned one, unless ``aligned`` is False)."""
    writer = await store.writer(image_id or str(uuid.uuid4()), len(data))
    buffer = mmap.mmap(-1, piece) if aligned else bytearray(piece)
    view = memoryview(buffer)
    for start in range(0, len(data), piece):
        part = data[start : start + piece]
        view[: len(part)] = part
        await writer.write(view[: len(part)])
        view[: len(part)] = b"\xee" * len(part)  # the store must be done with it by now
    return await writer.commit()


async def get(store: Store, location: str, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await store.read(location, offset, length)])


async def listed(store: Store) -> set[str]:
    return {location async for location in store.objects()}
