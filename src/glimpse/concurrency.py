"""Blocking work (hashing, file I/O) pushed off the event loop, explicitly.

One pool for image data work, separate from the database pool so that a burst of
uploads cannot starve metadata requests of database threads.
"""

from __future__ import annotations

import asyncio
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
