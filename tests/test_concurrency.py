"""Blocking work off the event loop: a cancelled caller of run_blocking_through hears of
it only once the work is over (its cleanup must not race the work)."""

from __future__ import annotations

import asyncio
import threading
import time

from glimpse.concurrency import run_blocking_through


async def test_a_cancelled_caller_waits_for_the_work_to_end() -> None:
    started = threading.Event()
    ended: list[float] = []

    def work() -> str:
        started.set()
        time.sleep(0.3)
        ended.append(time.monotonic())
        return "done"

    task = asyncio.create_task(run_blocking_through(work))
    await asyncio.to_thread(started.wait)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # cancelled again while it waits: still waits
    try:
        await task
    except asyncio.CancelledError:
        heard = time.monotonic()
    else:
        raise AssertionError("the cancellation was lost")
    assert ended and ended[0] <= heard


async def test_the_result_and_the_error_of_the_work() -> None:
    assert await run_blocking_through(lambda: 42) == 42

    def fails() -> None:
        raise OSError("disk gone")

    try:
        await run_blocking_through(fails)
    except OSError as exc:
        assert str(exc) == "disk gone"
    else:
        raise AssertionError("the work's error was lost")
