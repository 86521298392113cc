"""One memory budget for every transfer of this process.

Uploads, stages and imports hold two blocks while they stream; downloads hold the
chunks their store reads ahead. With hundreds at once those would be hundreds of MiB.
So they are paid for from one budget (``transfer_memory_budget``): each transfer's share
gets smaller as more run, and a transfer that finds the budget spent waits for room
(backpressure: its client's bytes move more slowly) instead of growing the process. A
transfer alone may always run, so none waits forever. A transfer that holds part of the
budget and asks for more (an S3 upload holds its parts, then takes its blocks; an import
reads staged data into a store) is never made to wait for it: it would wait on itself,
or on transfers that wait on it. What it takes on top counts against the budget, so new
transfers wait instead. When the last transfer ends, freed heap goes back to the
system: memory returns to its baseline after a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import ctypes.util
import mmap
import threading
from collections.abc import AsyncIterator

# below this a block costs more in per-block work (thread hand-offs) than it saves
MIN_BLOCK = 256 << 10


class _Holding:
    """What a transfer and the transfers it leads to (in its task and the tasks it
    starts) hold of the budget; one object, so that what ends the holding ends it for
    every task that shares it."""

    __slots__ = ("nbytes",)

    def __init__(self) -> None:
        self.nbytes = 0


_HOLDING: contextvars.ContextVar[_Holding | None] = contextvars.ContextVar(
    "transfer_budget_holding", default=None
)


def _load_libc() -> ctypes.CDLL | None:
    # looked up once: find_library runs ldconfig, far too slow for the end of a transfer
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


_LIBC = _load_libc()


def _malloc_trim() -> None:
    """Give freed heap back to the system (glibc only; elsewhere nothing to do)."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Let glibc keep at most ``arenas`` heaps: by default each thread that allocates
    (the data threads hashing, writing and reading blocks) gets its own, and freed chunks
    stay spread over them, so a burst of transfers leaves RSS far above what is in use."""
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is not None:
        mallopt(-8, arenas)  # M_ARENA_MAX


class TransferBudget:
    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self.active = 0
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[None]] = []

    def share(self, preferred: int, parts: int = 2, minimum: int = MIN_BLOCK) -> int:
        """The size of each of ``parts`` buffers for one more transfer now: its share of
        the budget, at most ``preferred``, at least ``minimum``, whole pages."""
        share = self.total // (parts * (self.active + 1))
        size = min(preferred, max(minimum, share))
        return max(mmap.PAGESIZE, size - size % mmap.PAGESIZE)

    async def _take(self, nbytes: int, *, wait: bool) -> None:
        while True:
            with self._lock:
                if not wait or self.used == 0 or self.used + nbytes <= self.total:
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
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    @contextlib.asynccontextmanager
    async def transfer(
        self, preferred: int, parts: int = 2, minimum: int = MIN_BLOCK
    ) -> AsyncIterator[int]:
        """One transfer's ``parts`` buffers, paid for while it runs: yields each one's
        size (``share``), once the budget has room for all of them. (``minimum``: the
        smallest buffer the transfer can work with, such as S3's smallest part.)"""
        with self._lock:
            size = self.share(preferred, parts, minimum)
            self.active += 1
        cost = parts * size
        # the holding this transfer joins, if its task (or the one that started it)
        # holds budget now; else it starts one
        holding = _HOLDING.get()
        if holding is not None and holding.nbytes == 0:
            holding = None
        try:
            await self._take(cost, wait=holding is None)
        except BaseException:
            with self._lock:
                self.active -= 1
            raise
        token = None
        if holding is None:
            holding = _Holding()
            token = _HOLDING.set(holding)
        holding.nbytes += cost
        try:
            yield size
        finally:
            holding.nbytes -= cost
            if token is not None:
                with contextlib.suppress(ValueError):  # ended from another task's context
                    _HOLDING.reset(token)
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
