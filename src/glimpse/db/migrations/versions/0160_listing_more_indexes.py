"""listing more indexes: a mixed-direction sort, tag and member lists from an index (PostgreSQL)

What 0120_listing_indexes left growing with the catalogue at a million images:

- ``sort=status:asc,name:desc`` (keys in opposite directions): no index reads that order
  forwards or backwards, so each part of a project's list sorted all its rows (every
  public image). An index with the directions of that sort (ties descending, as the API
  breaks them when directions differ) gives it; ``visibility`` and ``owner`` trail as
  keys so a part's ``visibility = …`` / ``owner = …`` is checked in the index, not the
  heap. A sort whose first key has many values (name, size, dates) needs none: an
  incremental sort over that key's index orders its few equal rows.
- members: ``(member, status, image_id)`` lists the images shared with a project from
  the index alone (it replaces 0120's ``(member, status)``, which PostgreSQL passed over
  for a sequential scan of image_members); the owner's own shared images come from
  ``(owner, visibility, created_at, id)`` newest first.
- tags: ``(value, image_id)`` gives a tag's images from the index alone.

Revision ID: 0160_listing_more_indexes
Revises: 0150_task_auth_token
Create Date: 2026-12-04 22:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0160_listing_more_indexes"
down_revision = "0150_task_auth_token"
branch_labels = None
depends_on = None

_CREATE = {
    "ix_images_live_status_name_desc": "images (status NULLS FIRST, name DESC NULLS LAST, "
    "created_at DESC NULLS LAST, id DESC NULLS LAST, visibility, owner) WHERE deleted = false",
    "ix_images_live_owner_visibility_created": "images (owner, visibility, "
    "created_at NULLS FIRST, id NULLS FIRST) WHERE deleted = false",
    "ix_image_members_member_status_image": "image_members (member, status, image_id)",
    "ix_image_tags_value_image": "image_tags (value, image_id)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, definition in _CREATE.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")
    op.execute("DROP INDEX ix_image_members_member_status")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE INDEX ix_image_members_member_status ON image_members (member, status)")
    for name in _CREATE:
        op.execute(f"DROP INDEX IF EXISTS {name}")
