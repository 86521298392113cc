"""The transfer memory budget: blocks shrink as transfers multiply, a transfer waits
for room instead of growing memory, and one alone always runs."""

from __future__ import annotations

import asyncio

from glimpse.memory import MIN_BLOCK, TransferBudget

MiB = 1 << 20


async def test_block_sizes_shrink_with_load_and_transfers_wait_for_room() -> None:
    budget = TransferBudget(8 * MiB)
    assert budget.share(8 * MiB) == 4 * MiB  # alone: two blocks fill the budget
    async with budget.transfer(8 * MiB) as first:
        assert first == 4 * MiB and budget.used == 8 * MiB
        assert budget.share(8 * MiB) == 2 * MiB  # a second would get half as much
        started = asyncio.Event()
        finished: list[int] = []

        async def second() -> None:
            started.set()
            async with budget.transfer(8 * MiB) as size:
                finished.append(size)

        task = asyncio.create_task(second())
        await started.wait()
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
