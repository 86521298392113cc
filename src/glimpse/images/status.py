"""The image status machine, as one table.

Every status change in glimpse goes through :func:`check_transition`; the database makes
each change a compare-and-set (``UPDATE … WHERE status IN (allowed sources)``), so two
nodes racing on one image cannot both win.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"


S = Status

# from-status → the statuses it may move to (Glance's domain model)
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.QUEUED: frozenset({S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DELETED}),
    S.SAVING: frozenset({S.ACTIVE, S.KILLED, S.DELETED, S.QUEUED}),
    S.UPLOADING: frozenset({S.IMPORTING, S.QUEUED, S.DELETED}),
    S.IMPORTING: frozenset({S.ACTIVE, S.DELETED, S.QUEUED}),
    S.ACTIVE: frozenset({S.PENDING_DELETE, S.DELETED, S.DEACTIVATED}),
    S.DEACTIVATED: frozenset({S.ACTIVE, S.DELETED}),
    S.KILLED: frozenset({S.DELETED}),
    S.PENDING_DELETE: frozenset({S.DELETED, S.ACTIVE}),
    S.DELETED: frozenset(),
}

# Entering these needs both disk_format and container_format set.
NEEDS_FORMATS: frozenset[Status] = frozenset({S.SAVING, S.ACTIVE, S.IMPORTING})

# Statuses in which an image no longer exists for the API (404 everywhere).
GONE: frozenset[Status] = frozenset({S.PENDING_DELETE, S.DELETED})

# Statuses in which disk_format / container_format may still be changed.
FORMATS_EDITABLE: frozenset[Status] = frozenset({S.QUEUED, S.IMPORTING})


def sources_of(target: Status) -> frozenset[Status]:
    """Every status from which ``target`` may be entered."""
    return frozenset(src for src, targets in TRANSITIONS.items() if target in targets)


def can_transition(current: str, target: Status) -> bool:
    return target in TRANSITIONS.get(Status(current), frozenset())
