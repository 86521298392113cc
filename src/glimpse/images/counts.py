"""How many images there are in each status (for the metrics scrape)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from glimpse.db.tables import images


def status_counts(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(images.c.status, func.count()).group_by(images.c.status))
        return [(status, number) for status, number in rows]
