"""listing indexes: every sort key of the image list served from an index (PostgreSQL)

The list orders ascending keys NULLS FIRST and descending ones NULLS LAST, ties broken
by created_at then id in the same direction. An index of live images on
``(key NULLS FIRST, created_at NULLS FIRST, id NULLS FIRST)`` gives that order read
forwards (asc) or backwards (desc), so a page is the first rows of an index scan
instead of a sort of every live image. Plain btree indexes are ASC NULLS LAST on
PostgreSQL and cannot; SQLite's are NULLS FIRST already and need none of these.

Revision ID: 0120_listing_indexes
Revises: 0110_tasks
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0120_listing_indexes"
down_revision = "0110_tasks"
branch_labels = None
depends_on = None

# index name -> leading columns before the (created_at, id) tie-breakers
_SORTED = {
    "ix_images_live_created": (),
    "ix_images_live_name": ("name",),
    "ix_images_live_status": ("status",),
    "ix_images_live_size": ("size",),
    "ix_images_live_disk_format": ("disk_format",),
    "ix_images_live_container_format": ("container_format",),
    "ix_images_live_updated": ("updated_at",),
    # a project's own images, newest first / by name
    "ix_images_live_owner_created": ("owner",),
    "ix_images_live_owner_name": ("owner", "name"),
    # public and community images, newest first
    "ix_images_live_visibility_created": ("visibility",),
}
# the leading equality columns need no NULLS ordering
_EQUALITY = {"owner", "visibility"}


def _columns(leading: tuple[str, ...]) -> str:
    return ", ".join(
        column if column in _EQUALITY else f"{column} NULLS FIRST"
        for column in (*leading, "created_at", "id")
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, leading in _SORTED.items():
        op.execute(f"CREATE INDEX {name} ON images ({_columns(leading)}) WHERE deleted = false")
    op.execute("CREATE INDEX ix_images_live_id ON images (id NULLS FIRST) WHERE deleted = false")
    # tag and property filters look up (tag | name, value) first when they are selective
    op.execute("CREATE INDEX ix_image_properties_name_value ON image_properties (name, value)")
    op.execute("CREATE INDEX ix_image_members_member_status ON image_members (member, status)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in (
        *_SORTED, "ix_images_live_id", "ix_image_properties_name_value",
        "ix_image_members_member_status",
    ):  # fmt: skip
        op.execute(f"DROP INDEX IF EXISTS {name}")
