"""project limits: per-project unified limits of the built-in identity

Revision ID: 0130_project_limits
Revises: 0120_listing_indexes
Create Date: 2026-12-04 21:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0130_project_limits"
down_revision = "0120_listing_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_limits",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource_name", sa.String(length=255), nullable=False),
        sa.Column("resource_limit", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource_name"),
    )


def downgrade() -> None:
    op.drop_table("project_limits")
