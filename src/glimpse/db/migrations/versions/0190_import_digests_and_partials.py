"""staged data's digests; the partial objects an import job's attempts write

``image_staged.digests``: the hashes and format findings of staged data, taken while it
was staged (the data cannot change afterwards), so that an import need not read it again.
``task_partials``: where an import attempt is writing, recorded before the first byte, so
that the worker that resumes or fails the job removes what a dead attempt left behind.

Revision ID: 0190_import_digests_and_partials
Revises: 0180_listing_sorted_covering
Create Date: 2026-12-04 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0190_import_digests_and_partials"
down_revision = "0180_listing_sorted_covering"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("image_staged") as batch:
        batch.add_column(sa.Column("digests", sa.Text(), nullable=True))
    op.create_table(
        "task_partials",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "task_id",
            sa.String(36),
            sa.ForeignKey("tasks.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("store", sa.String(255), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("task_partials")
    with op.batch_alter_table("image_staged") as batch:
        batch.drop_column("digests")
