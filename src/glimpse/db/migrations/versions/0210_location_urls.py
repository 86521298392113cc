"""image_locations by URL: whether any image still holds the data at a URL

An image's data is removed from its store only when no other image has a location at
the same URL (a location added through the location APIs may name data another image
holds); that question is asked on every removal, so it is answered from an index.
PostgreSQL's is a hash index: a URL can be longer than a B-tree entry may be.

Revision ID: 0210_location_urls
Revises: 0200_tag_sort_keys
Create Date: 2026-12-05 16:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0210_location_urls"
down_revision = "0200_tag_sort_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_image_locations_url", "image_locations", ["url"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_image_locations_url", table_name="image_locations")
