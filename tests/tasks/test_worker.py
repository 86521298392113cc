"""The task queue: two workers claim each task once; an expired lease is claimed again
and its old holder can no longer renew it; finished tasks expire."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import timedelta
from typing import Any

import pytest

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.tasks.model import JobFailed, Task, TaskStatus
from glimpse.tasks.repository import TaskRepository
from glimpse.tasks.worker import Progress, Worker
from tests.support.units import emptied


@pytest.mark.parametrize("workers", [2])
async def test_two_workers_claim_each_task_once(database_url: str, workers: int) -> None:
    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)
        ids = {str(uuid.uuid4()) for _ in range(30)}

        def add(repo: TaskRepository) -> None:
            for task_id in ids:
                repo.add(Task(id=task_id, type="test"))

        await tasks.write(add)
        other = Database(database_url, pool_size=4)
        try:
            queues = [tasks, UnitsOfWork(other, TaskRepository)]

            async def drain(queue: UnitsOfWork[TaskRepository], node: str) -> list[str]:
                taken: list[str] = []
                while True:
                    now = utcnow()
                    claim = functools.partial(
                        TaskRepository.claim,
                        node=node,
                        lease_until=now + timedelta(seconds=60),
                        now=now,
                    )
                    task = await queue.write(claim)
                    if task is None:
                        return taken
                    taken.append(task.id)
                    await asyncio.sleep(0)

            results = await asyncio.gather(
                *(drain(queues[n % 2], f"node-{n}") for n in range(workers * 2))
            )
        finally:
            await other.aclose()
        claimed = [task_id for taken in results for task_id in taken]
        assert sorted(claimed) == sorted(ids)  # every task once, none twice


async def test_an_expired_lease_is_claimed_again_and_the_old_holder_loses_it(
    database_url: str,
) -> None:
    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)
        await tasks.write(lambda repo: repo.add(Task(id="t1", type="test")))
        now = utcnow()
        first = await tasks.write(lambda repo: repo.claim("a", now + timedelta(seconds=1), now))
        assert first is not None and first.attempts == 1
        assert (
            await tasks.write(lambda repo: repo.claim("b", now + timedelta(seconds=1), now)) is None
        )
        later = now + timedelta(seconds=2)
        second = await tasks.write(
            lambda repo: repo.claim("b", later + timedelta(seconds=1), later)
        )
        assert second is not None and second.node == "b" and second.attempts == 2
        assert not await tasks.write(lambda repo: repo.renew("t1", "a", later, (1, 2)))
        assert await tasks.write(lambda repo: repo.renew("t1", "b", later, (1, 2)))
        done = await tasks.write(
            lambda repo: repo.finish(
                second, TaskStatus.SUCCESS, result={}, message="", expires_at=now, node="b"
            )
        )
        assert done
        assert await tasks.write(lambda repo: repo.expire(later)) == 1
        assert await tasks.read(lambda repo: repo.get("t1")) is None


class Recorder:
    """A handler that does what the test says and remembers what it was told."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self.failed: list[tuple[str, str]] = []

    async def run(self, task: Task, progress: Progress) -> dict[str, Any]:
        result: dict[str, Any] = await self._run(task, progress)
        return result

    async def fail(self, task: Task, message: str) -> None:
        self.failed.append((task.id, message))


async def _outcome(tasks: UnitsOfWork[TaskRepository], task_id: str) -> Task:
    found = await tasks.read(lambda repo: repo.get(task_id))
    assert found is not None
    return found


async def test_the_worker_records_success_failure_and_unknown_types(database_url: str) -> None:
    async def ok(task: Task, progress: Progress) -> dict[str, Any]:
        progress.report(5, 10)
        return {"done": task.id}

    async def broken(task: Task, progress: Progress) -> dict[str, Any]:
        raise RuntimeError("disk on fire")

    async def refused(task: Task, progress: Progress) -> dict[str, Any]:
        raise JobFailed("source said no")

    handlers = {"ok": Recorder(ok), "broken": Recorder(broken), "refused": Recorder(refused)}
    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)
        for kind in ("ok", "broken", "refused", "mystery"):
            await tasks.write(functools.partial(TaskRepository.add, task=Task(id=kind, type=kind)))
        worker = Worker(db, handlers, lease_seconds=30, node="n1")
        while await worker.run_once():
            pass
        assert not await worker.run_once()
        ok_task = await _outcome(tasks, "ok")
        assert ok_task.status == "success" and ok_task.result == {"done": "ok"}
        assert ok_task.expires_at is not None
        broken_task = await _outcome(tasks, "broken")
        assert broken_task.status == "failure" and "disk on fire" in broken_task.message
        assert handlers["broken"].failed == [("broken", broken_task.message)]
        assert (await _outcome(tasks, "refused")).message == "source said no"
        assert "Unknown task type" in (await _outcome(tasks, "mystery")).message


async def test_a_task_claimed_too_often_fails_visibly(database_url: str) -> None:
    async def never(task: Task, progress: Progress) -> dict[str, Any]:
        raise AssertionError("not run again")

    handler = Recorder(never)
    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)
        stale = Task(id="t", type="x", status="processing", attempts=3, lease_until=utcnow())
        await tasks.write(functools.partial(TaskRepository.add, task=stale))
        worker = Worker(db, {"x": handler}, lease_seconds=30, max_attempts=3, node="n2")
        assert await worker.run_once()
        found = await _outcome(tasks, "t")
        assert found.status == "failure" and "Gave up after 3 attempts" in found.message
        assert handler.failed and handler.failed[0][0] == "t"


async def test_a_worker_that_loses_its_lease_stops(database_url: str) -> None:
    started = asyncio.Event()

    async def slow(task: Task, progress: Progress) -> dict[str, Any]:
        started.set()
        progress.report(1)
        await asyncio.sleep(30)
        return {}

    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)
        await tasks.write(functools.partial(TaskRepository.add, task=Task(id="t", type="x")))
        worker = Worker(db, {"x": Recorder(slow)}, lease_seconds=0.3, node="a")
        running = asyncio.create_task(worker.run_once())
        await started.wait()
        # another node takes the task over (as if this one had stalled past its lease)
        later = utcnow() + timedelta(seconds=5)
        claim = functools.partial(
            TaskRepository.claim, node="b", lease_until=later + timedelta(seconds=60), now=later
        )
        assert await tasks.write(claim) is not None
        assert await asyncio.wait_for(running, 5)
        found = await _outcome(tasks, "t")
        assert found.node == "b" and found.status == "processing"


async def test_a_task_taken_over_before_it_ends_is_left_to_its_new_holder(
    database_url: str,
) -> None:
    """The job ends after another node took the task: its outcome is not recorded (nor
    notified) by the old holder."""
    async with emptied(database_url) as db:
        tasks = UnitsOfWork(db, TaskRepository)

        async def overtaken(task: Task, progress: Progress) -> dict[str, Any]:
            later = utcnow() + timedelta(seconds=60)  # past this worker's 30-second lease
            claim = functools.partial(
                TaskRepository.claim, node="b", lease_until=later + timedelta(seconds=60),
                now=later,
            )  # fmt: skip
            assert await tasks.write(claim) is not None
            return {"done": True}

        await tasks.write(functools.partial(TaskRepository.add, task=Task(id="t", type="x")))
        worker = Worker(db, {"x": Recorder(overtaken)}, lease_seconds=30, node="a")
        assert await worker.run_once()
        found = await _outcome(tasks, "t")
        assert (found.node, found.status, found.result) == ("b", "processing", None)
