"""The SQL of per-project limits (built-in identity): ``project_limits`` rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, insert, select

from glimpse.clock import utcnow
from glimpse.db.tables import project_limits


class LimitRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def of(self, project: str) -> dict[str, int]:
        rows = self.conn.execute(
            select(project_limits.c.resource_name, project_limits.c.resource_limit).where(
                project_limits.c.project_id == project
            )
        )
        return {name: int(limit) for name, limit in rows}

    def set(self, project: str, limits: Mapping[str, int]) -> None:
        self.unset(project, limits)
        now = utcnow()
        if limits:
            self.conn.execute(
                insert(project_limits),
                [
                    {"project_id": project, "resource_name": name, "resource_limit": limit,
                     "updated_at": now}
                    for name, limit in limits.items()
                ],
            )  # fmt: skip

    def unset(self, project: str, names: Iterable[str]) -> int:
        found = self.conn.execute(
            delete(project_limits).where(
                project_limits.c.project_id == project,
                project_limits.c.resource_name.in_(list(names)),
            )
        )
        return found.rowcount
