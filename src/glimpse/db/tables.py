"""The metadata schema (SQLAlchemy Core). Alembic migrations create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

images = Table(
    "images",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("status", String(30), nullable=False),
    Column("visibility", String(20), nullable=False),
    Column("protected", Boolean, nullable=False, default=False),
    Column("os_hidden", Boolean, nullable=False, default=False),
    Column("checksum", String(32)),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
    Column("owner", String(255)),
    Column("size", BigInteger),
    Column("virtual_size", BigInteger),
    Column("container_format", String(32)),
    Column("disk_format", String(32)),
    Column("min_disk", Integer, nullable=False, default=0),
    Column("min_ram", Integer, nullable=False, default=0),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime),
    Column("deleted", Boolean, nullable=False, default=False),
    # the default listing: live images, newest first
    Index("ix_images_deleted_created", "deleted", "created_at", "id"),
    Index("ix_images_owner", "owner"),
    Index("ix_images_visibility", "visibility"),
    Index("ix_images_status", "status"),
    Index("ix_images_updated_at", "updated_at"),
    Index("ix_images_name", "name"),
)

image_properties = Table(
    "image_properties",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("value", Text),  # null: a schema property set to null
    Index("ix_image_properties_name", "name"),
)

image_tags = Table(
    "image_tags",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("value", String(255), primary_key=True),
    Index("ix_image_tags_value", "value"),
)

image_members = Table(
    "image_members",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("member", String(255), nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("image_id", "member", name="uq_image_members_image_member"),
    Index("ix_image_members_member", "member"),
)

image_locations = Table(
    "image_locations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("store", String(255)),
    Column("meta", Text, nullable=False, default="{}"),  # JSON object
    Column("created_at", DateTime, nullable=False),
    Index("ix_image_locations_image_id", "image_id"),
)

# An upload in progress: who holds it and until when. A lease nobody renews marks an
# upload whose node died; the reaper returns its image to `queued` and removes the
# partial data at `location`.
image_uploads = Table(
    "image_uploads",
    metadata,
    Column("image_id", String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True),
    Column("store", String(255), nullable=False),
    Column("location", Text, nullable=False),
    Column("node", String(255), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)

# Image data whose image is gone but whose bytes could not be removed yet.
orphaned_data = Table(
    "orphaned_data",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(255), nullable=False),
    Column("location", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)
