"""Blocking work (hashing, file I/O) pushed off the event loop, explicitly.

One pool for image data work, separate from the database pool so that a burst of
uploads cannot starve metadata requests of database threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_data_pool = ThreadPoolExecutor(max_workers=48, thread_name_prefix="glimpse-data")


def submit_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
    """Start blocking work now; await the future later (to overlap it with other work)."""
    loop = asyncio.get_running_loop()
    return loop.run_in_executor(_data_pool, partial(fn, *args, **kwargs))


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_data_pool, partial(fn, *args, **kwargs))


async def run_blocking_through(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """run_blocking whose work is always waited for: a cancelled caller gets its
    CancelledError only once the work is over, so that what it then does to undo the
    work (close the file the work writes to, remove one it created) comes after it."""
    future = submit_blocking(fn, *args, **kwargs)
    interrupted: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.wait([future])  # (waiting is cancelled, never the work)
        except asyncio.CancelledError as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
    return future.result()


def run_on_own_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
    """Start blocking work on a thread of its own, for a call that waits on the event loop
    for its input (a request body streamed as it arrives): on the pool, enough of those
    would hold every thread while the work that feeds them (hashing) waits for one."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.cancelled():
            outcome()

    def run() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            loop.call_soon_threadsafe(settle, partial(future.set_exception, exc))
        else:
            loop.call_soon_threadsafe(settle, partial(future.set_result, result))

    threading.Thread(target=run, name="glimpse-stream", daemon=True).start()
    return future
