"""the images shared with a project in creation order, from its memberships' index

``visibility=shared`` as a member walked the shared images newest first and probed the
caller's membership of each: at a million images (74,000 shared, 1,738 with the
caller) a page of 25 needed ~1,000 probes, and its p99 grew 2.3 times from two thousand
images. A membership now carries its image's ``created_at`` (which never changes), so
the page walks the caller's memberships of one status in the page's order and stops
after 25 of them, whatever the size of the catalogue. The index replaces 0160's
``(member, status, image_id)`` on PostgreSQL: it serves the same lookups from the index
alone.

Revision ID: 0230_member_sort_keys
Revises: 0220_image_cache
Create Date: 2026-12-05 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0230_member_sort_keys"
down_revision = "0220_image_cache"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_members") as batch:
        batch.add_column(sa.Column("image_created_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE image_members SET image_created_at = (SELECT images.created_at FROM images "
        "WHERE images.id = image_members.image_id)"
    )
    with op.batch_alter_table("image_members") as batch:
        batch.alter_column("image_created_at", existing_type=sa.DateTime(), nullable=False)
    # the page's order (NULLS FIRST ascending, as the list sorts; SQLite takes no NULLS
    # FIRST in an index and sorts NULL first anyway)
    postgresql = op.get_bind().dialect.name == "postgresql"
    nulls_first = " NULLS FIRST" if postgresql else ""
    op.execute(
        "CREATE INDEX ix_image_members_member_status_created ON image_members "
        f"(member, status, image_created_at{nulls_first}, image_id{nulls_first})"
    )
    if postgresql:
        op.execute("DROP INDEX ix_image_members_member_status_image")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_image_members_member_status_image "
            "ON image_members (member, status, image_id)"
        )
    op.execute("DROP INDEX ix_image_members_member_status_created")
    with op.batch_alter_table("image_members") as batch:
        batch.drop_column("image_created_at")
