"""Two page-aligned buffers that take turns carrying an upload.

While one block is hashed and written (on other threads), the next fills from the
network. The buffers are allocated once per upload and reused, so a 4 GiB upload touches
the same few MiB of memory as a 4 MiB one, and their alignment lets a store write them
with ``O_DIRECT`` (no copy into the page cache).
"""

from __future__ import annotations

import contextlib
import mmap


class BlockPair:
    def __init__(self, size: int) -> None:
        size = max(mmap.PAGESIZE, size - size % mmap.PAGESIZE)
        self.size = size
        self._maps = [mmap.mmap(-1, size), mmap.mmap(-1, size)]
        self._views = [memoryview(m) for m in self._maps]
        self._current = 0
        self.filled = 0

    def take(self, chunk: bytes) -> bytes:
        """Copy as much of ``chunk`` as fits into the current block; return the rest."""
        room = self.size - self.filled
        if len(chunk) <= room:
            self._views[self._current][self.filled : self.filled + len(chunk)] = chunk
            self.filled += len(chunk)
            return b""
        self._views[self._current][self.filled :] = chunk[:room]
        self.filled = self.size
        return chunk[room:]

    @property
    def full(self) -> bool:
        return self.filled == self.size

    def hand_over(self) -> memoryview:
        """The filled part of the current block; filling continues in the other one.

        The caller must be done with the previous hand-over's view before calling again
        (that block is the one that fills next)."""
        block = self._views[self._current][: self.filled]
        self._current ^= 1
        self.filled = 0
        return block

    def close(self) -> None:
        for view in self._views:
            view.release()
        for mapped in self._maps:
            # a view still referenced somewhere keeps its map until it is freed
            with contextlib.suppress(BufferError):
                mapped.close()
