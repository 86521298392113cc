"""Glance's unified limits, checked: the limits of a project (:mod:`limits`) against what
it holds (:mod:`usage`) plus what a request adds.

A check that must hold under concurrency runs inside the unit of work that makes the
change, after :func:`lock_project`: two uploads finishing at once on two nodes cannot
both fit in the last MiB. An over-limit answer carries oslo.limit's words, as Glance's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.errors import LimitExceeded
from glimpse.quotas.limits import KeystoneLimits, LimitSource, LocalLimits
from glimpse.quotas.usage import MIB, RESOURCES, Usage, lock_project, usage_of

_GLANCE_413 = (
    "The request returned a 413 Request Entity Too Large. This generally means that rate "
    "limiting or a quota threshold was breached.\n\nThe response body:\n"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """One project's limits, read once per request."""

    project: str
    values: Mapping[str, int]

    def check(self, conn: Connection, deltas: Mapping[str, int], *, lock: bool = False) -> Usage:
        """Raise :class:`LimitExceeded` if the project's usage plus ``deltas`` is over
        any of those limits; the usage found. ``lock``: hold the project's limits until
        the transaction ends (for checks that must hold under concurrency)."""
        if lock:
            lock_project(conn, self.project)
        usage = usage_of(conn, self.project)
        over = []
        for name, delta in deltas.items():
            limit = self.values[name]
            current = usage.of(name)
            if 0 <= limit < current + delta:
                over.append((name, limit, current, delta))
        if over:
            raise LimitExceeded(_GLANCE_413 + _over_limit_text(self.project, over))
        return usage

    def bytes_left(self, usage: Usage, name: str) -> int | None:
        """The most bytes that still fit in the size limit ``name`` (None: unlimited):
        as Glance counts, data of ``n`` bytes adds ``n // MiB`` to the usage."""
        limit = self.values[name]
        if limit < 0:
            return None
        room = limit - usage.of(name)
        return (room + 1) * MIB - 1 if room >= 0 else 0


def _over_limit_text(project: str, over: list[tuple[str, int, int, int]]) -> str:
    from oslo_limit.exception import OverLimitInfo, ProjectOverLimit

    return str(ProjectOverLimit(project, [OverLimitInfo(*found) for found in over]))


class Quotas:
    """Off unless ``use_keystone_limits``; then Keystone's limits in keystone mode, the
    database's (``glimpse limits``) otherwise."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.enabled = settings.use_keystone_limits
        self.db = db
        self.source: LimitSource = (
            KeystoneLimits(settings)
            if settings.auth_mode == "keystone"
            else LocalLimits(db, settings)
        )

    async def limits(self, project: str | None) -> Limits | None:
        """The caller's project's limits; None when nothing is enforced."""
        if not self.enabled or not project:
            return None
        return Limits(project, await self.source.limits(project))

    async def usage(self, project: str | None) -> dict[str, dict[str, int]]:
        """``GET /v2/info/usage``: each resource's limit and usage ({} when off)."""
        limits = await self.limits(project)
        if limits is None:
            return {}
        found = await self.db.read(lambda conn: usage_of(conn, limits.project))
        return {name: {"usage": found.of(name), "limit": limits.values[name]} for name in RESOURCES}
