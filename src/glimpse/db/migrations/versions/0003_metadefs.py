"""metadata definitions (metadefs): namespaces, properties, objects, tags, resource types

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 18:40:26.139740
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace", sa.String(length=80), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=32), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace"),
    )
    with op.batch_alter_table("metadef_namespaces", schema=None) as batch_op:
        batch_op.create_index("ix_metadef_namespaces_owner", ["owner"], unique=False)

    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("resource_type_id", sa.Integer(), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("properties_target", sa.String(length=80), nullable=True),
        sa.Column("prefix", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["resource_type_id"],
            ["metadef_resource_types.id"],
        ),
        sa.PrimaryKeyConstraint("resource_type_id", "namespace_id"),
    )
    with op.batch_alter_table("metadef_namespace_resource_types", schema=None) as batch_op:
        batch_op.create_index(
            "ix_metadef_ns_res_types_namespace_id", ["namespace_id"], unique=False
        )

    op.create_table(
        "metadef_objects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("required", sa.Text(), nullable=True),
        sa.Column("json_schema", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_name"),
    )
    op.create_table(
        "metadef_properties",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("json_schema", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_properties_namespace_name"),
    )
    op.create_table(
        "metadef_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["namespace_id"], ["metadef_namespaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_name"),
    )


def downgrade() -> None:
    op.drop_table("metadef_tags")
    op.drop_table("metadef_properties")
    op.drop_table("metadef_objects")
    with op.batch_alter_table("metadef_namespace_resource_types", schema=None) as batch_op:
        batch_op.drop_index("ix_metadef_ns_res_types_namespace_id")

    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_resource_types")
    with op.batch_alter_table("metadef_namespaces", schema=None) as batch_op:
        batch_op.drop_index("ix_metadef_namespaces_owner")

    op.drop_table("metadef_namespaces")
