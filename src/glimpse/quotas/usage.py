"""What a project holds, as Glance counts it for its four unified limits, in one query
over the project's live images (``ix_images_owner``).

- ``image_size_total``: bytes of data stored (size times locations) of live images;
- ``image_stage_total``: bytes waiting in staging: images ``uploading`` or ``importing``,
  and live images being copied to more stores (``os_glance_importing_to_stores``);
- ``image_count_total``: live images;
- ``image_count_uploading``: images ``saving``, ``uploading`` or ``importing``, and
  copies in progress.

Sizes are bytes here; the limits count MiB (:data:`MIB`), as Glance's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
)

from glimpse.config import UNIFIED_LIMITS
from glimpse.db.tables import image_locations, image_properties, images
from glimpse.model.images import Status

MIB = 1 << 20

RESOURCES = UNIFIED_LIMITS
IMAGE_SIZE_TOTAL, IMAGE_STAGE_TOTAL, IMAGE_COUNT_TOTAL, IMAGE_COUNT_UPLOADING = RESOURCES

IMPORTING_TO = "os_glance_importing_to_stores"
_GONE = (Status.DELETED, Status.PENDING_DELETE, "killed")
_IN_TRANSFER = (Status.SAVING, Status.UPLOADING, Status.IMPORTING)
_STAGED = (Status.UPLOADING, Status.IMPORTING)


@dataclass(frozen=True, slots=True)
class Usage:
    size_bytes: int
    staged_bytes: int
    images: int
    uploading: int

    def of(self, resource: str) -> int:
        """The usage a limit on ``resource`` is compared with (sizes in whole MiB)."""
        return {
            IMAGE_SIZE_TOTAL: self.size_bytes // MIB,
            IMAGE_STAGE_TOTAL: self.staged_bytes // MIB,
            IMAGE_COUNT_TOTAL: self.images,
            IMAGE_COUNT_UPLOADING: self.uploading,
        }[resource]


def usage_query(project: str) -> Select[tuple[Any, Any, Any, Any]]:
    """The one statement: a sum or count per resource over the project's live rows."""
    live = images.c.status.not_in(_GONE)
    has_size = func.coalesce(images.c.size, 0) > 0
    locations = (
        select(func.count())
        .where(image_locations.c.image_id == images.c.id)
        .correlate(images)
        .scalar_subquery()
    )
    copying = exists().where(
        image_properties.c.image_id == images.c.id,
        image_properties.c.name == IMPORTING_TO,
        func.coalesce(image_properties.c.value, "") != "",
    )
    transferring = or_(images.c.status.in_(_IN_TRANSFER), and_(live, copying))
    staged = or_(images.c.status.in_(_STAGED), and_(live, copying))
    return select(
        func.coalesce(func.sum(case((and_(live, has_size), images.c.size * locations))), 0),
        func.coalesce(func.sum(case((and_(staged, has_size), images.c.size))), 0),
        func.coalesce(func.sum(case((live, literal(1)), else_=literal(0))), 0),
        func.coalesce(func.sum(case((transferring, literal(1)), else_=literal(0))), 0),
        # deleted rows match none of the sums by their status: no "deleted" test, which
        # would steer SQLite's planner to the index of all live images
    ).where(images.c.owner == project)


def usage_of(conn: Connection, project: str) -> Usage:
    row = conn.execute(usage_query(project)).one()
    return Usage(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def lock_project(conn: Connection, project: str) -> None:
    """Serialize the checks of one project's limits until this transaction ends, so that
    two requests on any nodes cannot both take the last of a limit. SQLite's writers are
    serialized already (``BEGIN IMMEDIATE``); PostgreSQL takes an advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"glimpse-quota:{project}"},
        )
