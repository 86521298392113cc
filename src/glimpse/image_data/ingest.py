"""Ingest: image bytes in, counted, capped, hashed, inspected and written to a store.

request body → gather into blocks → count, enforce the size cap and quota → md5, the
multihash and format inspection, each on its own thread, overlapped with the store write
of the same block and the network read of the next. Memory holds at most two blocks.

Plain Python over a byte iterator and a store writer: the upload uses it, and so can
anything else that brings bytes into a store (staging, import).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glimpse.concurrency import run_blocking
from glimpse.errors import InvalidInput, LimitExceeded
from glimpse.image_data.blocks import BlockPair
from glimpse.image_data.budget import budgeted_blocks
from glimpse.image_data.inspection import Findings, FormatCheck, inspect_file
from glimpse.stores.base import StoreWriter

BARE = "bare"  # the one container format whose data is inspected


@dataclass(frozen=True, slots=True)
class Ingested:
    """What the bytes turned out to be."""

    size: int
    checksum: str  # md5
    hash_algo: str
    hash_value: str
    virtual_size: int | None  # None: unknown (not inspected, or not inspectable)
    findings: Findings | None = None  # the inspectors' (None: not inspected)


class _Digests:
    """md5 and the multihash, each updated on its own thread; hashlib releases the GIL
    on large buffers, so both run at once on two cores."""

    def __init__(self, algorithm: str, format_check: FormatCheck | None) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.multihash = hashlib.new(algorithm)
        self.format_check = format_check

    def _md5_and_inspect(self, block: memoryview) -> None:
        self.md5.update(block)
        if self.format_check is not None:
            self.format_check.eat(block)

    def feed(self, block: memoryview) -> list[Awaitable[None]]:
        return [
            run_blocking(self._md5_and_inspect, block),
            run_blocking(self.multihash.update, block),
        ]


async def ingest(
    body: AsyncIterator[bytes],
    writer: StoreWriter,
    *,
    limit: int,
    hash_algo: str,
    format_check: FormatCheck | None,
    block_size: int,
    declared_size: int | None = None,
    still_wanted: Callable[[], None] = lambda: None,
) -> Ingested:
    """Stream ``body`` into ``writer`` (which the caller commits or aborts).

    ``limit``: the most bytes accepted (413 past it); ``declared_size``: the size the
    client announced (400 if the data differs); ``still_wanted``: asked before each block
    is written, raises to stop (the image was deleted meanwhile, say)."""
    digests = _Digests(hash_algo, format_check)
    async with budgeted_blocks(block_size) as blocks:
        return await _stream(
            body, writer, blocks, digests, limit=limit, format_check=format_check,
            declared_size=declared_size, still_wanted=still_wanted,
        )  # fmt: skip


async def _stream(
    body: AsyncIterator[bytes],
    writer: StoreWriter,
    blocks: BlockPair,
    digests: _Digests,
    *,
    limit: int,
    format_check: FormatCheck | None,
    declared_size: int | None,
    still_wanted: Callable[[], None],
) -> Ingested:
    total = 0
    in_flight: list[asyncio.Future[Any]] = []
    handed: memoryview | None = None

    async def settle() -> None:
        """Wait until every part of the block handed over last (the hashes, the store
        write) is done, then release it; raise the first part's error. A part that fails
        does not let the block go while the others still read it."""
        nonlocal in_flight, handed
        if not in_flight:
            return
        parts = in_flight
        await asyncio.wait(parts)  # all of them, whatever one of them raised
        in_flight = []
        if handed is not None:
            handed.release()
            handed = None
        errors = [part.exception() for part in parts if not part.cancelled()]
        for error in errors:
            if error is not None:
                raise error

    async def hand_over() -> None:
        nonlocal in_flight, handed
        await settle()  # its block is the one that fills next
        still_wanted()
        handed = blocks.hand_over()
        in_flight = [
            asyncio.ensure_future(part) for part in (*digests.feed(handed), writer.write(handed))
        ]

    try:
        async for chunk in body:
            total += len(chunk)
            if total > limit:
                raise LimitExceeded(
                    f"Image exceeds the storage quota or size cap of {limit} bytes."
                )
            while chunk:
                chunk = blocks.take(chunk)
                if blocks.full:
                    await hand_over()
        if blocks.filled:
            await hand_over()
        await settle()
        still_wanted()
    finally:
        # the threads must be done with a block before it is unmapped
        with contextlib.suppress(BaseException):
            await settle()
    if declared_size is not None and total != declared_size:
        raise InvalidInput(
            f"Size of uploaded data ({total}) does not match x-openstack-image-size "
            f"({declared_size})."
        )
    virtual_size = await run_blocking(format_check.verdict, total) if format_check else None
    return Ingested(
        size=total,
        checksum=digests.md5.hexdigest(),
        hash_algo=digests.multihash.name,
        hash_value=digests.multihash.hexdigest(),
        virtual_size=virtual_size,
        findings=format_check.findings if format_check else None,
    )


def format_check_for(
    disk_format: str | None, container_format: str | None, *, require_match: bool
) -> FormatCheck | None:
    """The inspection an ingest of an image runs (Glance inspects only ``bare`` data)."""
    if container_format != BARE:
        return None
    return FormatCheck(disk_format or "", require_match=require_match)


def findings_only() -> FormatCheck:
    """The inspection of data whose formats are not known yet (staged data): its
    findings, judged once they are (``judged``)."""
    return FormatCheck(None, require_match=False)


def judged(
    findings: Findings,
    disk_format: str | None,
    container_format: str | None,
    *,
    require_match: bool,
    size: int,
) -> int | None:
    """What the ingest's format check would have said of data with these findings: its
    virtual size (None if unknown, or not inspected), or 415."""
    if container_format != BARE:
        return None
    return findings.verdict(disk_format or "", require_match=require_match, size=size)


async def inspect_local_file(path: Path) -> str:
    """The format of a local image file whose safety checks pass (the import plugins
    check it before qemu-img reads it); DataFormatMismatch otherwise."""
    return await run_blocking(inspect_file, str(path))
