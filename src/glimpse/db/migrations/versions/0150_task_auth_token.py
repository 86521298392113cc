"""task auth_token: the caller's token kept with a task that acts as the caller elsewhere

glance-download reads the other region's image service as the caller, from whichever
node's worker claims the task: the token travels with the task row (never shown by the
tasks API) and is cleared when the task ends.

Revision ID: 0150_task_auth_token
Revises: 0140_job_leases
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0150_task_auth_token"
down_revision = "0140_job_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("auth_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("auth_token")
