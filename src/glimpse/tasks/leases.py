"""Periodic jobs that the cluster runs once, whichever nodes look: one lease row a job.

A node runs a pass only once it holds the job's row: a compare-and-set ``UPDATE … WHERE
the pass is due and no live lease holds it`` (on PostgreSQL after ``SELECT … FOR UPDATE
SKIP LOCKED``, so a node that finds the row being claimed moves on instead of waiting).
While the pass runs its node renews the lease every third of its length; a node that dies
stops renewing, and once the lease has run out another node may claim the job. Ending a
pass releases the row and sets when the next one is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import job_leases
from glimpse.errors import Conflict
from glimpse.tasks.worker import node_name

log = logging.getLogger(__name__)

T = TypeVar("T")


class LeaseRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def claim(
        self, name: str, node: str, now: datetime, lease_until: datetime, *, due_only: bool
    ) -> bool:
        """Take job ``name`` for ``node`` if no live lease holds it (and, with
        ``due_only``, if its next pass is due)."""
        with contextlib.suppress(IntegrityError), self.conn.begin_nested():
            self.conn.execute(insert(job_leases).values(name=name))  # first use: the row
        free = [
            job_leases.c.name == name,
            or_(job_leases.c.lease_until.is_(None), job_leases.c.lease_until < now),
        ]
        if due_only:
            free.append(or_(job_leases.c.next_run_at.is_(None), job_leases.c.next_run_at <= now))
        if self.dialect == "postgresql":
            seen = select(job_leases.c.name).where(*free).with_for_update(skip_locked=True)
            if self.conn.execute(seen).scalar() is None:
                return False
        taken = self.conn.execute(
            update(job_leases).where(*free).values(node=node, lease_until=lease_until)
        )
        return taken.rowcount == 1

    def renew(self, name: str, node: str, lease_until: datetime) -> bool:
        """Extend ``node``'s lease; False: it is no longer ``node``'s."""
        renewed = self.conn.execute(
            update(job_leases)
            .where(job_leases.c.name == name, job_leases.c.node == node)
            .values(lease_until=lease_until)
        )
        return renewed.rowcount == 1

    def release(self, name: str, node: str, next_run_at: datetime | None) -> None:
        """Let go of the job; ``next_run_at`` None keeps when the next pass is due."""
        values: dict[str, object] = {"node": None, "lease_until": None}
        if next_run_at is not None:
            values["next_run_at"] = next_run_at
        self.conn.execute(
            update(job_leases)
            .where(job_leases.c.name == name, job_leases.c.node == node)
            .values(values)
        )

    def holder(self, name: str) -> str | None:
        found: str | None = self.conn.execute(
            select(job_leases.c.node).where(job_leases.c.name == name)
        ).scalar()
        return found


class JobLease:
    """Runs passes of job ``name`` only while this node holds its lease."""

    def __init__(
        self, db: Database, name: str, *, lease_seconds: float, node: str | None = None
    ) -> None:
        self.leases = UnitsOfWork(db, LeaseRepository)
        self.name = name
        self.lease = timedelta(seconds=lease_seconds)
        self.node = node or node_name()

    async def run(self, job: Callable[[], Awaitable[T]], *, every: float | None = None) -> T | None:
        """``job``'s result, or None when it did not run here: another node holds the
        lease or (``every`` given: a periodic pass) the next pass is not due yet. After a
        periodic pass the next is due ``every`` seconds later."""
        if not await self._claim(due_only=every is not None):
            return None
        return await self._held(job, every)

    async def run_now(self, job: Callable[[], Awaitable[T]]) -> T:
        """``job`` at once, holding the lease (Conflict when another node holds it); when
        the next periodic pass is due stays as it was."""
        if not await self._claim(due_only=False):
            node = await self.leases.read(partial(LeaseRepository.holder, name=self.name))
            raise Conflict(f"{self.name} is already running on {node or 'another node'}")
        return await self._held(job, None)

    async def _claim(self, *, due_only: bool) -> bool:
        now = utcnow()
        claim = partial(
            LeaseRepository.claim,
            name=self.name,
            node=self.node,
            now=now,
            lease_until=now + self.lease,
            due_only=due_only,
        )
        return await self.leases.write(claim)

    async def _held(self, job: Callable[[], Awaitable[T]], every: float | None) -> T:
        """``job`` while this node renews the lease; then the lease released."""
        work = asyncio.ensure_future(job())
        keeper = asyncio.create_task(self._keep(work))
        try:
            return await work
        except asyncio.CancelledError:
            if keeper.done() and not keeper.cancelled() and keeper.result() is False:
                raise Conflict(f"{self.name}: lease lost to another node") from None
            raise
        finally:
            keeper.cancel()
            await asyncio.wait([keeper])
            next_run = utcnow() + timedelta(seconds=every) if every is not None else None
            release = partial(
                LeaseRepository.release, name=self.name, node=self.node, next_run_at=next_run
            )
            await asyncio.shield(self.leases.write(release))

    async def _keep(self, work: asyncio.Future[T]) -> bool:
        interval = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            renew = partial(
                LeaseRepository.renew,
                name=self.name,
                node=self.node,
                lease_until=utcnow() + self.lease,
            )
            try:
                kept = await self.leases.write(renew)
            except Exception:
                log.warning("%s: could not renew its lease", self.name, exc_info=True)
                continue
            if not kept:
                log.warning("%s: lease lost; stopping this pass", self.name)
                work.cancel()
                return False
