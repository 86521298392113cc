"""Image bytes without files or big allocations: one 8 MiB random buffer, repeated.

An image of any size is the buffer read round and round from a start offset (each image
gets its own offset, so no two images are alike). Uploads stream slices of it; downloads
are compared byte for byte against it as they arrive (a memcmp, far cheaper than md5 in
the client, which would otherwise cap a download at ~700 MB/s on this box).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from functools import cache

PATTERN_SIZE = 8 << 20
# what glanceclient sends per chunk; Glance under uWSGI answers 500 ("unable to receive
# chunked part") to chunks of about 1 MiB and more; larger chunks saved no client CPU here
UPLOAD_CHUNK = 64 << 10

_PATTERN = os.urandom(PATTERN_SIZE)
# twice over, so that any slice up to PATTERN_SIZE long is contiguous from any offset
_DOUBLE = _PATTERN + _PATTERN
_VIEW = memoryview(_DOUBLE)


def start_offset(index: int) -> int:
    """A different, unaligned start for image number ``index``."""
    return (index * 1_048_583) % PATTERN_SIZE  # a prime just over 1 MiB


async def body(
    size: int, start: int = 0, chunk: int = UPLOAD_CHUNK, pause: float = 0.0
) -> AsyncIterator[memoryview]:
    """The request body of an upload: ``size`` bytes in ``chunk`` slices, no copies;
    ``pause`` seconds between slices make a slow client."""
    sent = 0
    while sent < size:
        offset = (start + sent) % PATTERN_SIZE
        length = min(chunk, size - sent)
        yield _VIEW[offset : offset + length]
        sent += length
        if pause and sent < size:
            await asyncio.sleep(pause)


@cache
def md5_of(size: int, start: int = 0) -> str:
    """The md5 the server must report for ``body(size, start)``; computed before timing."""
    digest = hashlib.md5(usedforsecurity=False)
    done = 0
    while done < size:
        offset = (start + done) % PATTERN_SIZE
        length = min(PATTERN_SIZE, size - done)
        digest.update(_VIEW[offset : offset + length])
        done += length
    return digest.hexdigest()


class Verifier:
    """Checks a download as it is read: every byte equal to the pattern, and the length."""

    def __init__(self, size: int, start: int = 0) -> None:
        self.size = size
        self.start = start
        self.received = 0
        self.mismatch_at: int | None = None

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and self.mismatch_at is None:
            piece = view[:PATTERN_SIZE]
            offset = (self.start + self.received) % PATTERN_SIZE
            if not _DOUBLE.startswith(piece, offset):
                self.mismatch_at = self.received
            self.received += len(piece)
            view = view[PATTERN_SIZE:]

    def problem(self) -> str | None:
        if self.mismatch_at is not None:
            return f"content differs from what was uploaded near byte {self.mismatch_at}"
        if self.received != self.size:
            return f"received {self.received} bytes, expected {self.size}"
        return None
