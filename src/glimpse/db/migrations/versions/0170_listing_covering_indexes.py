"""listing covering indexes: a part of a project's list filtered in its index (PostgreSQL)

A list page is chosen by ids and sort keys first and its rows read after
(:mod:`glimpse.images.listing`). The indexes that serve the parts of a project's list
newest first (others' public / community / shared images by visibility, the caller's
own by owner) now carry every column those parts filter on, so PostgreSQL walks them
index-only: a tag, property or membership test then costs an index probe per candidate
instead of a read of the image's row too, and a page that must pass over a thousand
candidates (a tag on 1% of the images) stays a few milliseconds however many exist.

Revision ID: 0170_listing_covering_indexes
Revises: 0160_listing_more_indexes
Create Date: 2026-12-04 22:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0170_listing_covering_indexes"
down_revision = "0160_listing_more_indexes"
branch_labels = None
depends_on = None

_LIVE = "WHERE deleted = false"
# index -> (keys, the filtered columns it now carries)
_COVERING = {
    "ix_images_live_visibility_created": (
        "visibility, created_at NULLS FIRST, id NULLS FIRST",
        "owner, status, os_hidden",
    ),
    "ix_images_live_owner_created": (
        "owner, created_at NULLS FIRST, id NULLS FIRST",
        "visibility, status, os_hidden",
    ),
    "ix_images_live_owner_visibility_created": (
        "owner, visibility, created_at NULLS FIRST, id NULLS FIRST",
        "status, os_hidden",
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (keys, carried) in _COVERING.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON images ({keys}) INCLUDE ({carried}) {_LIVE}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (keys, _carried) in _COVERING.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON images ({keys}) {_LIVE}")
