"""All SQL of the built-in identity: one repository over one connection (one transaction).

Methods take and return the records of ``glimpse.identity.model``; units of work get one
through ``UnitsOfWork(db, IdentityRepository)``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from glimpse.db import tables
from glimpse.identity.model import Assignment, Domain, Project, Role, User

T = TypeVar("T")

domains = tables.identity_domains
users = tables.identity_users
projects = tables.identity_projects
roles = tables.identity_roles
assignments = tables.identity_role_assignments
revoked = tables.identity_revoked_tokens
generation = tables.identity_generation

_GENERATION_ROW = 1

_USER = select(
    users.c.id,
    users.c.name,
    users.c.enabled,
    users.c.password_hash,
    users.c.tokens_valid_after,
    domains.c.id.label("domain_id"),
    domains.c.name.label("domain_name"),
    domains.c.enabled.label("domain_enabled"),
).join_from(users, domains, users.c.domain_id == domains.c.id)

_PROJECT = select(
    projects.c.id,
    projects.c.name,
    projects.c.enabled,
    projects.c.description,
    domains.c.id.label("domain_id"),
    domains.c.name.label("domain_name"),
    domains.c.enabled.label("domain_enabled"),
).join_from(projects, domains, projects.c.domain_id == domains.c.id)

# Statements of token validation, built once (it runs for every token a node sees).
_USER_BY_ID = _USER.where(users.c.id == bindparam("user_id"))
_PROJECT_BY_ID = _PROJECT.where(projects.c.id == bindparam("project_id"))
_GRANTED = (
    select(roles.c.id, roles.c.name)
    .join_from(assignments, roles, assignments.c.role_id == roles.c.id)
    .where(
        assignments.c.user_id == bindparam("user_id"),
        assignments.c.project_id == bindparam("project_id"),
    )
)
_ROLES_NAMED = select(roles.c.id, roles.c.name).where(
    roles.c.name.in_(bindparam("names", expanding=True))
)
_ANY_REVOKED = select(
    exists().where(revoked.c.audit_id.in_(bindparam("audit_ids", expanding=True)))
)
_GENERATION = select(generation.c.value).where(generation.c.id == _GENERATION_ROW)


def _domain(row: Any) -> Domain:
    return Domain(row.domain_id, row.domain_name, row.domain_enabled)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        domain=_domain(row),
        enabled=row.enabled,
        password_hash=row.password_hash,
        tokens_valid_after=row.tokens_valid_after,
    )


def _project(row: Any) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        domain=_domain(row),
        enabled=row.enabled,
        description=row.description,
    )


class IdentityRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name

    def _insert_ignoring_duplicates(self, table: Table) -> Insert:
        if self.dialect == "postgresql":
            return pg_insert(table).on_conflict_do_nothing()
        return sqlite_insert(table).on_conflict_do_nothing()

    # ----------------------------------------------------------------- domains

    def ensure_domain(self, domain: Domain, now: datetime) -> None:
        self.conn.execute(
            self._insert_ignoring_duplicates(domains),
            {"id": domain.id, "name": domain.name, "enabled": domain.enabled, "created_at": now},
        )

    def get_domain(self, *, domain_id: str | None = None, name: str | None = None) -> Domain | None:
        query = select(domains.c.id, domains.c.name, domains.c.enabled)
        if domain_id is not None:
            query = query.where(domains.c.id == domain_id)
        if name is not None:
            query = query.where(domains.c.name == name)
        row = self.conn.execute(query).first()
        return None if row is None else Domain(row.id, row.name, row.enabled)

    def list_domains(self) -> list[Domain]:
        rows = self.conn.execute(
            select(domains.c.id, domains.c.name, domains.c.enabled).order_by(domains.c.name)
        )
        return [Domain(row.id, row.name, row.enabled) for row in rows]

    # ------------------------------------------------------------------- roles

    def ensure_role(self, role: Role, now: datetime) -> None:
        self.conn.execute(
            self._insert_ignoring_duplicates(roles),
            {"id": role.id, "name": role.name, "created_at": now},
        )

    def get_role(self, name: str) -> Role | None:
        row = self.conn.execute(
            select(roles.c.id, roles.c.name).where(roles.c.name == name)
        ).first()
        return None if row is None else Role(row.id, row.name)

    def list_roles(self) -> list[Role]:
        rows = self.conn.execute(select(roles.c.id, roles.c.name).order_by(roles.c.name))
        return [Role(row.id, row.name) for row in rows]

    def granted_roles(self, user_id: str, project_id: str) -> list[Role]:
        """The roles granted to a user on a project (implied ones not included)."""
        rows = self.conn.execute(_GRANTED, {"user_id": user_id, "project_id": project_id})
        return [Role(row.id, row.name) for row in rows]

    def roles_named(self, names: Collection[str]) -> list[Role]:
        rows = self.conn.execute(_ROLES_NAMED, {"names": list(names)})
        return [Role(row.id, row.name) for row in rows]

    # ------------------------------------------------------------------- users

    def get_user(self, user_id: str) -> User | None:
        row = self.conn.execute(_USER_BY_ID, {"user_id": user_id}).first()
        return None if row is None else _user(row)

    def find_user(
        self, name: str, *, domain_id: str | None = None, domain_name: str | None = None
    ) -> User | None:
        query = _USER.where(users.c.name == name)
        if domain_id is not None:
            query = query.where(domains.c.id == domain_id)
        if domain_name is not None:
            query = query.where(domains.c.name == domain_name)
        row = self.conn.execute(query).first()
        return None if row is None else _user(row)

    def list_users(self, *, domain_id: str | None = None, name: str | None = None) -> list[User]:
        query: Select[Any] = _USER
        if domain_id is not None:
            query = query.where(domains.c.id == domain_id)
        if name is not None:
            query = query.where(users.c.name == name)
        rows = self.conn.execute(query.order_by(domains.c.name, users.c.name))
        return [_user(row) for row in rows]

    def count_users(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(users)).scalar_one())

    def add_user(self, user: User, now: datetime) -> None:
        self.conn.execute(
            insert(users).values(
                id=user.id,
                domain_id=user.domain.id,
                name=user.name,
                password_hash=user.password_hash,
                enabled=user.enabled,
                tokens_valid_after=user.tokens_valid_after,
                created_at=now,
            )
        )

    def update_user(self, user_id: str, **values: Any) -> bool:
        result = self.conn.execute(update(users).where(users.c.id == user_id).values(**values))
        return result.rowcount == 1

    def delete_user(self, user_id: str) -> bool:
        result = self.conn.execute(delete(users).where(users.c.id == user_id))
        return result.rowcount == 1

    # ---------------------------------------------------------------- projects

    def get_project(self, project_id: str) -> Project | None:
        row = self.conn.execute(_PROJECT_BY_ID, {"project_id": project_id}).first()
        return None if row is None else _project(row)

    def find_project(
        self, name: str, *, domain_id: str | None = None, domain_name: str | None = None
    ) -> Project | None:
        query = _PROJECT.where(projects.c.name == name)
        if domain_id is not None:
            query = query.where(domains.c.id == domain_id)
        if domain_name is not None:
            query = query.where(domains.c.name == domain_name)
        row = self.conn.execute(query).first()
        return None if row is None else _project(row)

    def list_projects(
        self,
        *,
        domain_id: str | None = None,
        name: str | None = None,
        user_id: str | None = None,
    ) -> list[Project]:
        """Projects, optionally only those ``user_id`` holds a role on."""
        query: Select[Any] = _PROJECT
        if domain_id is not None:
            query = query.where(domains.c.id == domain_id)
        if name is not None:
            query = query.where(projects.c.name == name)
        if user_id is not None:
            query = query.where(
                exists().where(
                    assignments.c.project_id == projects.c.id, assignments.c.user_id == user_id
                )
            )
        rows = self.conn.execute(query.order_by(domains.c.name, projects.c.name))
        return [_project(row) for row in rows]

    def add_project(self, project: Project, now: datetime) -> None:
        self.conn.execute(
            insert(projects).values(
                id=project.id,
                domain_id=project.domain.id,
                name=project.name,
                description=project.description,
                enabled=project.enabled,
                created_at=now,
            )
        )

    def delete_project(self, project_id: str) -> bool:
        result = self.conn.execute(delete(projects).where(projects.c.id == project_id))
        return result.rowcount == 1

    # ------------------------------------------------------------- assignments

    def add_assignment(self, user_id: str, project_id: str, role_id: str) -> bool:
        """Grant a role; False if it was granted already."""
        result = self.conn.execute(
            self._insert_ignoring_duplicates(assignments),
            {"user_id": user_id, "project_id": project_id, "role_id": role_id},
        )
        return result.rowcount == 1

    def remove_assignment(self, user_id: str, project_id: str, role_id: str) -> bool:
        result = self.conn.execute(
            delete(assignments).where(
                assignments.c.user_id == user_id,
                assignments.c.project_id == project_id,
                assignments.c.role_id == role_id,
            )
        )
        return result.rowcount == 1

    def list_assignments(
        self, *, user_id: str | None = None, project_id: str | None = None
    ) -> list[Assignment]:
        user_domain, project_domain = domains.alias("user_domain"), domains.alias("project_domain")
        query = (
            select(
                users.c.id.label("user_id"),
                users.c.name.label("user_name"),
                users.c.enabled.label("user_enabled"),
                user_domain.c.id.label("user_domain_id"),
                user_domain.c.name.label("user_domain_name"),
                projects.c.id.label("project_id"),
                projects.c.name.label("project_name"),
                projects.c.enabled.label("project_enabled"),
                project_domain.c.id.label("project_domain_id"),
                project_domain.c.name.label("project_domain_name"),
                roles.c.id.label("role_id"),
                roles.c.name.label("role_name"),
            )
            .join_from(assignments, users, assignments.c.user_id == users.c.id)
            .join(user_domain, users.c.domain_id == user_domain.c.id)
            .join(projects, assignments.c.project_id == projects.c.id)
            .join(project_domain, projects.c.domain_id == project_domain.c.id)
            .join(roles, assignments.c.role_id == roles.c.id)
        )
        if user_id is not None:
            query = query.where(assignments.c.user_id == user_id)
        if project_id is not None:
            query = query.where(assignments.c.project_id == project_id)
        rows = self.conn.execute(query.order_by(roles.c.name, users.c.name, projects.c.name))
        return [
            Assignment(
                user=User(
                    row.user_id,
                    row.user_name,
                    Domain(row.user_domain_id, row.user_domain_name),
                    row.user_enabled,
                ),
                project=Project(
                    row.project_id,
                    row.project_name,
                    Domain(row.project_domain_id, row.project_domain_name),
                    row.project_enabled,
                ),
                role=Role(row.role_id, row.role_name),
            )
            for row in rows
        ]

    # ------------------------------------------------------------- revocation

    def revoke(self, audit_id: str, expires_at: datetime, now: datetime) -> None:
        self.conn.execute(
            self._insert_ignoring_duplicates(revoked),
            {"audit_id": audit_id, "expires_at": expires_at, "revoked_at": now},
        )

    def any_revoked(self, audit_ids: Collection[str]) -> bool:
        return bool(self.conn.execute(_ANY_REVOKED, {"audit_ids": list(audit_ids)}).scalar())

    def purge_revoked(self, now: datetime) -> int:
        """Forget revocations of tokens that have expired anyway."""
        result = self.conn.execute(delete(revoked).where(revoked.c.expires_at < now))
        return result.rowcount

    # -------------------------------------------------------------- generation

    def generation(self) -> int:
        found = self.conn.execute(_GENERATION).scalar()
        return 0 if found is None else int(found)

    def ensure_generation(self) -> None:
        self.conn.execute(
            self._insert_ignoring_duplicates(generation), {"id": _GENERATION_ROW, "value": 1}
        )

    def bump_generation(self) -> None:
        """Tell every node that validated tokens may have changed meaning."""
        result = self.conn.execute(
            update(generation)
            .where(generation.c.id == _GENERATION_ROW)
            .values(value=generation.c.value + literal(1))
        )
        if result.rowcount == 0:
            self.ensure_generation()
