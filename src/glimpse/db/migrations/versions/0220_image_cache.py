"""the image cache: what each node holds, and what it is asked to fetch

Glance's centralized_db cache driver keeps its bookkeeping in the database so that any
node can say which nodes hold an image; the bytes stay in each node's own directory.

Revision ID: 0220_image_cache
Revises: 0210_location_urls
Create Date: 2026-12-05 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0220_image_cache"
down_revision = "0210_location_urls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cached_images",
        sa.Column("node", sa.String(255), primary_key=True),
        sa.Column("image_id", sa.String(36), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("last_accessed", sa.Float(), nullable=False),
        sa.Column("last_modified", sa.Float(), nullable=False),
    )
    op.create_index("ix_cached_images_image_id", "cached_images", ["image_id"])
    op.create_table(
        "cache_queue",
        sa.Column("node", sa.String(255), primary_key=True),
        sa.Column("image_id", sa.String(36), primary_key=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cache_queue")
    op.drop_index("ix_cached_images_image_id", table_name="cached_images")
    op.drop_table("cached_images")
