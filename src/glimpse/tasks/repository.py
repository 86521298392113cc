"""The SQL of tasks and of the import lock, over the connection of one unit of work.

Claiming is the queue: on PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` hands each
waiting task to one node; on SQLite (one writer at a time) a compare-and-set ``UPDATE …
WHERE status/lease still as seen`` does the same. A task whose lease ran out (its node
died) is claimable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.db.tables import image_import_locks, tasks
from glimpse.tasks.model import Task, TaskStatus

_COLUMNS = [tasks.c[name] for name in Task.__dataclass_fields__]


def _task(row: Row[Any]) -> Task:
    values = row._asdict()
    values["input"] = orjson.loads(values["input"])
    values["result"] = orjson.loads(values["result"]) if values["result"] is not None else None
    return Task(**values)


def _claimable(now: datetime) -> Any:
    return or_(
        tasks.c.status == TaskStatus.PENDING,
        and_(tasks.c.status == TaskStatus.PROCESSING, tasks.c.lease_until < now),
    )


class TaskRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def add(self, task: Task, *, auth_token: str | None = None) -> None:
        """``auth_token``: the caller's token, for a job that acts as the caller
        elsewhere; kept out of every view, cleared when the task ends."""
        values = {name: getattr(task, name) for name in Task.__dataclass_fields__}
        values["input"] = orjson.dumps(task.input).decode()
        values["result"] = orjson.dumps(task.result).decode() if task.result else None
        values["auth_token"] = auth_token
        self.conn.execute(insert(tasks).values(values))

    def auth_token(self, task_id: str) -> str | None:
        token: str | None = self.conn.execute(
            select(tasks.c.auth_token).where(tasks.c.id == task_id)
        ).scalar()
        return token

    def get(self, task_id: str) -> Task | None:
        row = self.conn.execute(
            select(*_COLUMNS).where(tasks.c.id == task_id, tasks.c.deleted.is_(False))
        ).first()
        return _task(row) if row is not None else None

    def page(self, owner: str | None, *, limit: int, marker: Task | None = None) -> list[Task]:
        """Newest first; ``owner`` None: everyone's."""
        query = select(*_COLUMNS).where(tasks.c.deleted.is_(False))
        if owner is not None:
            query = query.where(tasks.c.owner == owner)
        if marker is not None:
            query = query.where(
                or_(
                    tasks.c.created_at < marker.created_at,
                    and_(tasks.c.created_at == marker.created_at, tasks.c.id < marker.id),
                )
            )
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit)
        return [_task(row) for row in self.conn.execute(query)]

    def for_image(self, image_id: str) -> list[Task]:
        query = (
            select(*_COLUMNS)
            .where(tasks.c.image_id == image_id, tasks.c.deleted.is_(False))
            .order_by(tasks.c.created_at.desc())
        )
        return [_task(row) for row in self.conn.execute(query)]

    # ------------------------------------------------------------------ the queue

    def claim(self, node: str, lease_until: datetime, now: datetime) -> Task | None:
        """Take the oldest waiting task (or one whose node died) for ``node``."""
        query = select(tasks.c.id).where(_claimable(now)).order_by(tasks.c.created_at).limit(1)
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        task_id = self.conn.execute(query).scalar()
        if task_id is None:
            return None
        taken = self.conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id, _claimable(now))
            .values(
                status=TaskStatus.PROCESSING,
                node=node,
                lease_until=lease_until,
                attempts=tasks.c.attempts + 1,
                updated_at=now,
            )
        )
        return self.get(task_id) if taken.rowcount == 1 else None

    def renew(
        self,
        task_id: str,
        node: str,
        lease_until: datetime,
        progress: tuple[int, int | None] | None = None,
    ) -> bool:
        """Extend this node's lease (and record progress); False: the lease is lost."""
        values: dict[str, Any] = {"lease_until": lease_until}
        if progress is not None:
            done, total = progress
            values.update(bytes_done=done, bytes_total=total, message=_copied(done))
        renewed = self.conn.execute(
            update(tasks)
            .where(
                tasks.c.id == task_id,
                tasks.c.node == node,
                tasks.c.status == TaskStatus.PROCESSING,
            )
            .values(values)
        )
        return renewed.rowcount == 1

    def finish(
        self,
        task: Task,
        status: TaskStatus,
        *,
        result: dict[str, Any] | None,
        message: str | None,
        expires_at: datetime,
        node: str | None,
    ) -> bool:
        """Record the outcome, if ``node`` still holds the task (None: whoever does);
        ``message`` None keeps the last progress message (as Glance does on success)."""
        query = update(tasks).where(
            tasks.c.id == task.id, tasks.c.status.in_([TaskStatus.PENDING, TaskStatus.PROCESSING])
        )
        if node is not None:
            query = query.where(tasks.c.node == node)
        values: dict[str, Any] = {
            "status": status,
            "result": orjson.dumps(result).decode() if result is not None else None,
            "lease_until": None,
            "auth_token": None,
            "expires_at": expires_at,
            "updated_at": utcnow(),
        }
        if message is not None:
            values["message"] = message
        done = self.conn.execute(query.values(values))
        return done.rowcount == 1

    def expire(self, now: datetime) -> int:
        """Soft-delete finished tasks past their expiry (Glance's task_time_to_live)."""
        gone = self.conn.execute(
            update(tasks)
            .where(tasks.c.deleted.is_(False), tasks.c.expires_at < now)
            .values(deleted=True, deleted_at=now)
        )
        return gone.rowcount

    # ------------------------------------------------------------- the import lock

    def lock_image(self, image_id: str, task_id: str) -> bool:
        """Hold ``image_id`` for ``task_id``; False if another task holds it."""
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    insert(image_import_locks).values(image_id=image_id, task_id=task_id)
                )
        except IntegrityError:
            return False
        return True

    def unlock_image(self, image_id: str, task_id: str) -> None:
        self.conn.execute(
            delete(image_import_locks).where(
                image_import_locks.c.image_id == image_id,
                image_import_locks.c.task_id == task_id,
            )
        )

    def holders(self, image_ids: Sequence[str]) -> dict[str, str]:
        rows = self.conn.execute(
            select(image_import_locks.c.image_id, image_import_locks.c.task_id).where(
                image_import_locks.c.image_id.in_(list(image_ids))
            )
        )
        return {row.image_id: row.task_id for row in rows}


def _copied(done: int) -> str:
    """Glance's progress message."""
    return f"Copied {done // (1 << 20)} MiB"
