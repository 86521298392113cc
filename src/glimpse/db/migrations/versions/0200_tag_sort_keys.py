"""a tag's images in creation order, per visibility and per owner, from one index

``project tag=…`` at a million images read every image carrying the tag and every
public image (and the caller's own) to join and sort them: ``image_tags (value,
image_id)`` gives a tag's images in id order, not in the page's, and knows nothing of
who may see them. A tag row now carries its image's ``created_at`` (never changes),
``visibility`` and ``owner`` (kept in step by the repository), so each part of a
project's list (own, public, community) walks its tag's images newest first (or oldest
first) from one index and stops after its page, whatever the size of the catalogue.

Revision ID: 0200_tag_sort_keys
Revises: 0190_import_digests_and_partials
Create Date: 2026-12-05 01:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0200_tag_sort_keys"
down_revision = "0190_import_digests_and_partials"
branch_labels = None
depends_on = None


_INDEXES = {
    "ix_image_tags_value_created": "",
    "ix_image_tags_value_visibility_created": "visibility, ",
    "ix_image_tags_value_owner_created": "owner, ",
}


def upgrade() -> None:
    with op.batch_alter_table("image_tags") as batch:
        batch.add_column(sa.Column("created_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("visibility", sa.String(20), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(255), nullable=True))
    op.execute(
        "UPDATE image_tags SET (created_at, visibility, owner) = (SELECT images.created_at, "
        "images.visibility, images.owner FROM images WHERE images.id = image_tags.image_id)"
    )
    with op.batch_alter_table("image_tags") as batch:
        batch.alter_column("created_at", existing_type=sa.DateTime(), nullable=False)
    # NULL sorts first in SQLite already (and it takes no NULLS FIRST in an index)
    nulls_first = " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""
    for name, leading in _INDEXES.items():
        op.execute(
            f"CREATE INDEX {name} ON image_tags "
            f"(value, {leading}created_at{nulls_first}, image_id{nulls_first})"
        )


def downgrade() -> None:
    for name in _INDEXES:
        op.execute(f"DROP INDEX {name}")
    with op.batch_alter_table("image_tags") as batch:
        for column in ("owner", "visibility", "created_at"):
            batch.drop_column(column)
