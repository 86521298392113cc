"""The transfer memory budget: blocks shrink as transfers multiply, a transfer waits
for room instead of growing memory, and one alone always runs."""

from __future__ import annotations

import asyncio

from glimpse.memory import MIN_BLOCK, TransferBudget

MiB = 1 << 20


async def test_block_sizes_shrink_with_load_and_transfers_wait_for_room() -> None:
    budget = TransferBudget(8 * MiB)
    assert budget.share(8 * MiB) == 4 * MiB  # alone: two blocks fill the budget
    go = asyncio.Event()
    finished: list[int] = []

    async def second() -> None:  # a task of its own, as another request's
        await go.wait()
        async with budget.transfer(8 * MiB) as size:
            finished.append(size)

    task = asyncio.create_task(second())
    async with budget.transfer(8 * MiB) as first:
        assert first == 4 * MiB and budget.used == 8 * MiB
        assert budget.share(8 * MiB) == 2 * MiB  # a second would get half as much
        go.set()
        await asyncio.sleep(0.05)
        assert finished == []  # waits: the budget is spent
    await asyncio.wait_for(task, 5)
    assert finished == [2 * MiB]
    assert budget.used == 0 and budget.active == 0


async def test_many_transfers_share_the_budget() -> None:
    budget = TransferBudget(16 * MiB)
    peak = 0

    async def transfer() -> None:
        nonlocal peak
        async with budget.transfer(8 * MiB) as size:
            peak = max(peak, budget.used)
            assert size >= MIN_BLOCK
            await asyncio.sleep(0.01)

    await asyncio.gather(*(transfer() for _ in range(64)))
    assert peak <= 16 * MiB
    assert budget.used == 0 and budget.active == 0


async def test_a_transfer_alone_runs_whatever_the_budget() -> None:
    budget = TransferBudget(MIN_BLOCK)  # smaller than two minimum blocks
    async with budget.transfer(8 * MiB) as size:
        assert size == MIN_BLOCK and budget.used == 2 * MIN_BLOCK


async def test_a_transfer_holding_budget_is_not_made_to_wait_for_more() -> None:
    """An S3 upload holds its parts, then takes its blocks: were it to wait for room, it
    would wait on itself. New transfers wait for it instead."""
    budget = TransferBudget(16 * MiB)
    go = asyncio.Event()
    newcomer = asyncio.create_task(_one_transfer(budget, after=go))
    async with budget.transfer(8 * MiB, minimum=8 * MiB):
        assert budget.used == 16 * MiB  # the whole budget
        go.set()

        async def blocks() -> int:
            async with budget.transfer(8 * MiB):
                await asyncio.sleep(0.05)
                return budget.used

        # in a task it starts (as asyncio.wait_for does) as much as in its own
        used = await asyncio.wait_for(blocks(), 5)
        assert budget.used == 16 * MiB
        assert used > 16 * MiB and not newcomer.done()  # over the budget; a newcomer waits
    await asyncio.wait_for(newcomer, 5)
    assert budget.used == 0 and budget.active == 0


async def test_a_task_started_in_a_transfer_waits_once_that_transfer_ends() -> None:
    budget = TransferBudget(16 * MiB)
    go, late = asyncio.Event(), asyncio.Event()

    async def inheritor() -> bool:
        await go.wait()
        async with budget.transfer(8 * MiB):
            return late.is_set()  # room came only once the other transfer ended

    async with budget.transfer(8 * MiB, minimum=8 * MiB):
        started = asyncio.create_task(inheritor())
    async with budget.transfer(8 * MiB, minimum=8 * MiB):  # another, in the first's place
        go.set()
        await asyncio.sleep(0.05)
        assert not started.done()  # what it inherited ended: it waits like any other
        late.set()
    assert await asyncio.wait_for(started, 5)
    assert budget.used == 0 and budget.active == 0


async def test_transfers_that_each_take_twice_all_finish() -> None:
    """Eight S3-like uploads whose parts are all taken before any asks for its blocks:
    those that got their parts get their blocks, the rest wait their turn."""
    budget = TransferBudget(64 * MiB)
    everyone_started = asyncio.Barrier(8)
    done = 0

    async def upload() -> None:
        nonlocal done
        await everyone_started.wait()
        async with budget.transfer(10 * MiB, minimum=5 * MiB):
            await asyncio.sleep(0.01)  # the others take their parts meanwhile
            async with budget.transfer(8 * MiB):
                await asyncio.sleep(0.01)
        done += 1

    await asyncio.wait_for(asyncio.gather(*(upload() for _ in range(8))), 10)
    assert done == 8
    assert budget.used == 0 and budget.active == 0


async def _one_transfer(budget: TransferBudget, after: asyncio.Event) -> None:
    await after.wait()
    async with budget.transfer(8 * MiB):
        pass
