"""The SQL of image members (sharing), over the connection of one unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from glimpse.db.tables import image_members, images
from glimpse.images.repository import ImageRepository
from glimpse.model.images import Member


class MemberRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # the image a membership belongs to, read in the same transaction
        self.images = ImageRepository(conn)

    def get_member(self, image_id: str, member_id: str) -> Member | None:
        row = self.conn.execute(
            select(
                image_members.c.member,
                image_members.c.status,
                image_members.c.created_at,
                image_members.c.updated_at,
            ).where(image_members.c.image_id == image_id, image_members.c.member == member_id)
        ).first()
        if row is None:
            return None
        return Member(image_id, row.member, row.status, row.created_at, row.updated_at)

    def list_members(self, image_id: str, only: str | None = None) -> list[Member]:
        query = select(
            image_members.c.member,
            image_members.c.status,
            image_members.c.created_at,
            image_members.c.updated_at,
        ).where(image_members.c.image_id == image_id)
        if only is not None:
            query = query.where(image_members.c.member == only)
        rows = self.conn.execute(query.order_by(image_members.c.created_at, image_members.c.id))
        return [Member(image_id, r.member, r.status, r.created_at, r.updated_at) for r in rows]

    def count_members(self, image_id: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).where(image_members.c.image_id == image_id)
            ).scalar_one()
        )

    def add_member(self, member: Member) -> None:
        self.conn.execute(
            insert(image_members).values(
                image_id=member.image_id,
                member=member.member_id,
                status=member.status,
                created_at=member.created_at,
                updated_at=member.updated_at,
                image_created_at=select(images.c.created_at)
                .where(images.c.id == member.image_id)
                .scalar_subquery(),
            )
        )

    def update_member(
        self, image_id: str, member_id: str, status: str, updated_at: datetime
    ) -> bool:
        result = self.conn.execute(
            update(image_members)
            .where(image_members.c.image_id == image_id, image_members.c.member == member_id)
            .values(status=status, updated_at=updated_at)
        )
        return result.rowcount == 1

    def delete_member(self, image_id: str, member_id: str) -> bool:
        result = self.conn.execute(
            delete(image_members).where(
                image_members.c.image_id == image_id, image_members.c.member == member_id
            )
        )
        return result.rowcount == 1
