"""The worker: claims tasks from the database, runs them, keeps their lease alive.

A task is run by the handler for its type. While it runs, the worker renews the lease
every third of its length (recording the handler's progress); a worker that dies stops
renewing, and once the lease has run out any worker claims the task again and runs its
handler from the start (handlers are idempotent). A task claimed too many times, or a
handler that raises, ends visibly: the handler's ``fail`` records the outcome on what
it was working on, and the task becomes ``failure`` with the reason.

Notifications, as Glance sends them for an import: ``task.processing`` once claimed,
then ``task.success`` and ``task.run``, or ``task.failure`` (``task.create`` is the
queueing service's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any, Protocol

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.notifications.notifier import Notifier
from glimpse.notifications.payloads import task_payload
from glimpse.tasks.model import JobFailed, Task, TaskStatus
from glimpse.tasks.repository import TaskRepository

log = logging.getLogger(__name__)


class Progress:
    """What a handler tells the worker as it goes: bytes done of total."""

    def __init__(self) -> None:
        self.done = 0
        self.total: int | None = None
        self.changed = False

    def report(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        self.changed = True


class Handler(Protocol):
    async def run(self, task: Task, progress: Progress) -> dict[str, Any]:
        """Do the job; return the task's result. JobFailed (or any error) fails it."""
        ...

    async def fail(self, task: Task, message: str) -> None:
        """Record a failed job on what it was working on (the image). Never raises."""
        ...


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        lease_seconds: float,
        poll_seconds: float = 1.0,
        max_attempts: int = 3,
        time_to_live: timedelta = timedelta(hours=48),
        node: str | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.tasks = UnitsOfWork(db, TaskRepository)
        self.notifier = notifier
        self.handlers = handlers
        self.lease = timedelta(seconds=lease_seconds)
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.time_to_live = time_to_live
        self.node = node or node_name()
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """A task was just queued on this node: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the current task's step and stop (a cancellation alone can be lost in
        a race with a timeout; this flag cannot)."""
        self._stopping = True
        self._wake.set()

    async def run_forever(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker: claiming or running a task failed; retrying")
                worked = False
            if not worked and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()

    async def run_once(self) -> bool:
        """Claim and run one task; False when there was none."""
        now = utcnow()
        task = await self.tasks.write(lambda repo: repo.claim(self.node, now + self.lease, now))
        if task is None:
            await self.tasks.write(lambda repo: repo.expire(now))
            return False
        self._notify("task.processing", task)
        await self._run(task)
        return True

    def _notify(self, event_type: str, task: Task, status: str | None = None) -> None:
        if self.notifier is not None:
            self.notifier.send(event_type, lambda: task_payload(task, status=status))

    async def _run(self, task: Task) -> None:
        handler = self.handlers.get(task.type)
        if handler is None:
            await self._finish(task, TaskStatus.FAILURE, None, f"Unknown task type {task.type}")
            return
        if task.attempts > self.max_attempts:
            message = f"Gave up after {task.attempts - 1} attempts: the workers running it stopped"
            await handler.fail(task, message)
            await self._finish(task, TaskStatus.FAILURE, None, message)
            return
        progress = Progress()
        job = asyncio.create_task(handler.run(task, progress))
        keeper = asyncio.create_task(self._keep_lease(task, progress, job))
        try:
            result = await job
        except asyncio.CancelledError:
            if keeper.done() and not keeper.cancelled() and keeper.result() is False:
                log.warning("task %s: lease lost; another worker owns it now", task.id)
                return
            job.cancel()  # shutting down: the lease runs out and another worker resumes
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, JobFailed):
                log.exception("task %s failed", task.id)
            await handler.fail(task, message)
            await self._finish(task, TaskStatus.FAILURE, None, message)
            return
        finally:
            keeper.cancel()
            # wait for the keeper without swallowing a cancellation of this task (the
            # worker being stopped) the way awaiting it under suppress() would
            await asyncio.wait([keeper])
        await self._finish(task, TaskStatus.SUCCESS, result, None)

    async def _keep_lease(self, task: Task, progress: Progress, job: asyncio.Task[Any]) -> bool:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            state = (progress.done, progress.total) if progress.changed else None
            progress.changed = False
            renew = partial(
                TaskRepository.renew,
                task_id=task.id,
                node=self.node,
                lease_until=utcnow() + self.lease,
                progress=state,
            )
            try:
                kept = await self.tasks.write(renew)
            except Exception:
                log.warning("task %s: could not renew its lease", task.id, exc_info=True)
                continue
            if not kept:
                job.cancel()
                return False

    async def _finish(
        self, task: Task, status: TaskStatus, result: dict[str, Any] | None, message: str | None
    ) -> None:
        expires_at = utcnow() + self.time_to_live

        def work(repo: TaskRepository) -> bool:
            done = repo.finish(
                task,
                status,
                result=result,
                message=message,
                expires_at=expires_at,
                node=self.node,
            )
            if task.image_id is not None:
                repo.unlock_image(task.image_id, task.id)
            return done

        if not await self.tasks.write(work):
            return  # no longer this node's task: its new holder tells
        task.status, task.expires_at, task.updated_at = status, expires_at, utcnow()
        if status == TaskStatus.SUCCESS:
            self._notify("task.success", task)
            # Glance's task.run follows a run that did not fail, with the task as it was
            # handed to its executor
            self._notify("task.run", task, status=TaskStatus.PENDING)
        else:
            self._notify("task.failure", task)
