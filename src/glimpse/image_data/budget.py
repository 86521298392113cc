"""One memory budget for every transfer of this process.

Each upload, stage or import holds two blocks while it streams (see ``blocks.py``); with
hundreds at once those would be hundreds of MiB. So blocks are paid for from one budget
(``transfer_memory_budget``): a transfer's blocks get smaller as more transfers run, and
a transfer that finds the budget spent waits for room (backpressure: its client's sends
slow down) instead of growing the process. A transfer alone may always run, whatever
its block size, so none can wait forever. When the last transfer ends, freed heap goes
back to the system, so memory returns to its baseline after a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import mmap
import threading
from collections.abc import AsyncIterator

from glimpse.image_data.blocks import BlockPair

# below this a block costs more in per-block work (thread hand-offs) than it saves
MIN_BLOCK = 256 << 10


def _malloc_trim() -> None:
    """Give freed heap back to the system (glibc only; elsewhere nothing to do)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


class TransferBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.active = 0
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []

    def block_size(self, preferred: int) -> int:
        """The block size for one more transfer now: its share of the budget (two blocks
        each), at most ``preferred``, at least MIN_BLOCK, a whole number of pages."""
        share = self.total // (2 * (self.active + 1))
        size = min(preferred, max(MIN_BLOCK, share))
        return max(mmap.PAGESIZE, size - size % mmap.PAGESIZE)

    async def _take(self, nbytes: int) -> None:
        while True:
            with self._lock:
                if self.used == 0 or self.used + nbytes <= self.total:
                    self.used += nbytes
                    return
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _give_back(self, nbytes: int) -> None:
        with self._lock:
            self.used -= nbytes
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:  # each checks again; those that do not fit wait again
            loop = waiter.get_loop()
            loop.call_soon_threadsafe(_wake, waiter)

    @contextlib.asynccontextmanager
    async def blocks(self, preferred: int) -> AsyncIterator[BlockPair]:
        """A pair of blocks for one transfer, paid for from the budget while it runs."""
        with self._lock:
            size = self.block_size(preferred)
            self.active += 1
        cost = 2 * size
        try:
            await self._take(cost)
        except BaseException:
            with self._lock:
                self.active -= 1
            raise
        pair = BlockPair(size)
        try:
            yield pair
        finally:
            pair.close()
            self._give_back(cost)
            with self._lock:
                self.active -= 1
                idle = self.active == 0
            if idle:
                _malloc_trim()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# the process's budget; the app sets its size from the settings at start
BUDGET = TransferBudget(64 << 20)
