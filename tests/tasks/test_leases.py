"""Job leases: of two nodes (two connection pools) one runs a pass, the other is turned
away; a periodic pass is not due again before its interval; a dead node's lease runs out
and another takes the job; a node whose lease was taken stops its pass."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta

import pytest

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import job_leases
from glimpse.errors import Conflict
from glimpse.tasks.leases import JobLease, LeaseRepository
from tests.support.units import emptied


async def test_one_node_at_a_time_and_once_an_interval(database_url: str) -> None:
    async with emptied(database_url) as db:
        other = Database(database_url, pool_size=2)
        try:
            a = JobLease(db, "job", lease_seconds=30, node="a")
            b = JobLease(other, "job", lease_seconds=30, node="b")
            inside = asyncio.Event()
            leave = asyncio.Event()

            async def long_pass() -> str:
                inside.set()
                await leave.wait()
                return "a ran"

            running = asyncio.create_task(a.run(long_pass, every=60))
            await inside.wait()
            ran_b: list[str] = []

            async def b_pass() -> str:
                ran_b.append("b")
                return "b ran"

            assert await b.run(b_pass, every=60) is None
            assert await b.run(b_pass) is None
            with pytest.raises(Conflict, match="job is already running on a"):
                await b.run_now(b_pass)
            leave.set()
            assert await running == "a ran"
            # released, but the next periodic pass is due in 60 s: not before
            assert await b.run(b_pass, every=60) is None
            assert await a.run(b_pass, every=60) is None
            assert ran_b == []
            # a pass asked for now (glimpse verify) runs, and keeps the periodic schedule
            assert await b.run_now(b_pass) == "b ran"
            assert await a.run(b_pass, every=60) is None

            def due_now(repo: LeaseRepository) -> None:
                repo.release("job", "nobody", next_run_at=None)  # no holder: nothing changes
                past = utcnow() - timedelta(seconds=1)
                repo.conn.execute(job_leases.update().values(next_run_at=past))

            await UnitsOfWork(db, LeaseRepository).write(due_now)
            results = await asyncio.gather(a.run(b_pass, every=60), b.run(b_pass, every=60))
            assert sorted(r for r in results if r is not None) == ["b ran"]  # exactly one
        finally:
            await other.aclose()


async def test_a_dead_nodes_lease_runs_out(database_url: str) -> None:
    async with emptied(database_url) as db:
        leases = UnitsOfWork(db, LeaseRepository)
        now = utcnow()
        claim = functools.partial(
            LeaseRepository.claim, name="job", node="dead", now=now,
            lease_until=now + timedelta(seconds=1), due_only=True,
        )  # fmt: skip
        assert await leases.write(claim)  # and then the node dies: no renewals, no release
        b = JobLease(db, "job", lease_seconds=30, node="b")

        async def work() -> int:
            return 1

        assert await b.run(work, every=60) is None
        await asyncio.sleep(1.2)
        assert await b.run(work, every=60) == 1
        assert await leases.read(functools.partial(LeaseRepository.holder, name="job")) is None


async def test_a_node_whose_lease_was_taken_stops(database_url: str) -> None:
    async with emptied(database_url) as db:
        a = JobLease(db, "job", lease_seconds=0.6, node="a")  # renews every 0.2 s
        leases = UnitsOfWork(db, LeaseRepository)
        stopped = asyncio.Event()

        async def endless() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                stopped.set()

        running = asyncio.create_task(a.run(endless))
        await asyncio.sleep(0.1)

        def steal(repo: LeaseRepository) -> None:  # as if a's lease had run out and b took it
            repo.conn.execute(job_leases.update().values(node="b"))

        await leases.write(steal)
        with pytest.raises(Conflict, match="lease lost"):
            await asyncio.wait_for(running, 5)
        assert stopped.is_set()
        assert await leases.read(functools.partial(LeaseRepository.holder, name="job")) == "b"


async def test_a_pass_that_fails_releases_the_lease(database_url: str) -> None:
    async with emptied(database_url) as db:
        a = JobLease(db, "job", lease_seconds=30, node="a")

        async def broken() -> None:
            raise RuntimeError("store gone")

        with pytest.raises(RuntimeError):
            await a.run(broken, every=0)
        leases = UnitsOfWork(db, LeaseRepository)
        assert await leases.read(functools.partial(LeaseRepository.holder, name="job")) is None

        async def fine() -> str:
            return "ok"

        assert await JobLease(db, "job", lease_seconds=30, node="b").run(fine, every=0) == "ok"


async def test_a_node_stopping_mid_pass_lets_go_of_the_job(database_url: str) -> None:
    async with emptied(database_url) as db:
        a = JobLease(db, "job", lease_seconds=30, node="a")
        inside = asyncio.Event()

        async def endless() -> None:
            inside.set()
            await asyncio.sleep(60)

        running = asyncio.create_task(a.run(endless, every=60))
        await inside.wait()
        running.cancel()  # the node shuts down
        with pytest.raises(asyncio.CancelledError):
            await running
        leases = UnitsOfWork(db, LeaseRepository)
        assert await leases.read(functools.partial(LeaseRepository.holder, name="job")) is None
