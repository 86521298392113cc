"""The job backlog at a glance (metrics scrape, detailed health): tasks by status and
how long the oldest waiting one has waited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, false, func, select

from glimpse.clock import utcnow
from glimpse.db.tables import tasks
from glimpse.tasks.model import TaskStatus


@dataclass(frozen=True, slots=True)
class Backlog:
    by_status: dict[str, int]
    oldest_pending_seconds: float | None


def backlog(engine: Engine) -> Backlog:
    with engine.connect() as conn:
        live = tasks.c.deleted == false()
        rows = conn.execute(
            select(tasks.c.status, func.count()).where(live).group_by(tasks.c.status)
        )
        by_status = {str(status): int(number) for status, number in rows}
        oldest = conn.execute(
            select(func.min(tasks.c.created_at)).where(live, tasks.c.status == TaskStatus.PENDING)
        ).scalar()
    age = None if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
    return Backlog(by_status, age)
