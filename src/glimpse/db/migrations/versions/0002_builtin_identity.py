"""built-in identity: domains, users, projects, roles, assignments, revoked tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:44:01.685993
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_domains",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "identity_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "identity_revoked_tokens",
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    with op.batch_alter_table("identity_revoked_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_identity_revoked_tokens_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "identity_roles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "identity_projects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["identity_domains.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_projects_domain_name"),
    )
    op.create_table(
        "identity_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("tokens_valid_after", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["identity_domains.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain_id", "name", name="uq_identity_users_domain_name"),
    )
    op.create_table(
        "identity_role_assignments",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["identity_projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["identity_roles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["identity_users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "project_id", "role_id"),
    )
    with op.batch_alter_table("identity_role_assignments", schema=None) as batch_op:
        batch_op.create_index("ix_identity_role_assignments_project", ["project_id"], unique=False)
        batch_op.create_index("ix_identity_role_assignments_role", ["role_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identity_role_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_role_assignments_role")
        batch_op.drop_index("ix_identity_role_assignments_project")

    op.drop_table("identity_role_assignments")
    op.drop_table("identity_users")
    op.drop_table("identity_projects")
    op.drop_table("identity_roles")
    with op.batch_alter_table("identity_revoked_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_revoked_tokens_expires_at")

    op.drop_table("identity_revoked_tokens")
    op.drop_table("identity_generation")
    op.drop_table("identity_domains")
