"""Who exists: users, projects, roles and who holds which role where. Used by the
``glimpse user|project|role`` commands and the first-start bootstrap.

Users and projects are named by id or by name (within a domain, ``Default`` unless
said otherwise), as ``openstack`` commands name them. Every change that can alter what
an issued token means moves the identity generation, so that every node drops the
tokens it validated before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.concurrency import run_blocking
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import Conflict, InvalidInput, NotFound
from glimpse.identity.model import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    STANDARD_ROLES,
    Assignment,
    Domain,
    Project,
    Role,
    User,
    implied_closure,
)
from glimpse.identity.passwords import MAX_PASSWORD_LENGTH, Passwords
from glimpse.identity.repository import IdentityRepository

T = TypeVar("T")

MAX_NAME_LENGTH = 255


def new_id() -> str:
    return uuid.uuid4().hex


def ensure_defaults(repo: IdentityRepository) -> None:
    """The default domain, the standard roles and the generation row (idempotent)."""
    moment = utcnow()
    repo.ensure_domain(Domain(DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME), moment)
    for name in STANDARD_ROLES:
        repo.ensure_role(Role(new_id(), name), moment)
    repo.ensure_generation()


def effective_roles(repo: IdentityRepository, user_id: str, project_id: str) -> tuple[Role, ...]:
    """The roles a user holds on a project: those granted, then those they imply."""
    granted = repo.granted_roles(user_id, project_id)
    if not granted:
        return ()
    names = {role.name.lower() for role in granted}
    implied = implied_closure(names) - names
    extra = [role for role in repo.roles_named(implied) if role.name.lower() not in names]
    return (*granted, *extra)


def _check_name(kind: str, name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH or name != name.strip():
        raise InvalidInput(f"A {kind} name must be 1 to {MAX_NAME_LENGTH} characters, unpadded.")


def _check_password(password: str) -> None:
    if not password or len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password must be 1 to {MAX_PASSWORD_LENGTH} characters.")


class Directory:
    def __init__(self, db: Database, passwords: Passwords) -> None:
        self._units = UnitsOfWork(db, IdentityRepository)
        self.passwords = passwords

    async def _read(self, work: Callable[[IdentityRepository], T]) -> T:
        return await self._units.read(work)

    async def _write(self, work: Callable[[IdentityRepository], T]) -> T:
        return await self._units.write(work)

    async def ensure_defaults(self) -> None:
        await self._write(lambda repo: ensure_defaults(repo))

    # ----------------------------------------------------------------- users

    async def create_user(
        self, name: str, password: str | None, *, domain: str | None = None, enabled: bool = True
    ) -> User:
        _check_name("user", name)
        if password is not None:
            _check_password(password)
        hashed = None if password is None else await run_blocking(self.passwords.hash, password)

        def work(repo: IdentityRepository) -> User:
            ensure_defaults(repo)
            found = _domain(repo, domain)
            if repo.find_user(name, domain_id=found.id) is not None:
                raise Conflict(f"User {name!r} exists in domain {found.name!r}.")
            user = User(new_id(), name, found, enabled, hashed)
            repo.add_user(user, utcnow())
            return user

        return await self._unique(work, f"User {name!r} exists.")

    async def set_password(self, user: str, password: str, *, domain: str | None = None) -> User:
        """A new password; the user's tokens issued before are void (as Keystone)."""
        _check_password(password)
        hashed = await run_blocking(self.passwords.hash, password)

        def work(repo: IdentityRepository) -> User:
            found = _user(repo, user, domain)
            repo.update_user(found.id, password_hash=hashed, tokens_valid_after=utcnow())
            repo.bump_generation()
            return found

        return await self._write(work)

    async def set_enabled(self, user: str, enabled: bool, *, domain: str | None = None) -> User:
        def work(repo: IdentityRepository) -> User:
            found = _user(repo, user, domain)
            values: dict[str, object] = {"enabled": enabled}
            if not enabled:
                values["tokens_valid_after"] = utcnow()
            repo.update_user(found.id, **values)
            repo.bump_generation()
            return found

        return await self._write(work)

    async def delete_user(self, user: str, *, domain: str | None = None) -> User:
        def work(repo: IdentityRepository) -> User:
            found = _user(repo, user, domain)
            repo.delete_user(found.id)
            repo.bump_generation()
            return found

        return await self._write(work)

    async def list_users(self, *, domain: str | None = None) -> list[User]:
        def work(repo: IdentityRepository) -> list[User]:
            domain_id = None if domain is None else _domain(repo, domain).id
            return repo.list_users(domain_id=domain_id)

        return await self._read(work)

    async def find_user(self, user: str, *, domain: str | None = None) -> User:
        return await self._read(lambda repo: _user(repo, user, domain))

    # -------------------------------------------------------------- projects

    async def create_project(
        self, name: str, *, domain: str | None = None, description: str = ""
    ) -> Project:
        _check_name("project", name)

        def work(repo: IdentityRepository) -> Project:
            ensure_defaults(repo)
            found = _domain(repo, domain)
            if repo.find_project(name, domain_id=found.id) is not None:
                raise Conflict(f"Project {name!r} exists in domain {found.name!r}.")
            project = Project(new_id(), name, found, True, description)
            repo.add_project(project, utcnow())
            return project

        return await self._unique(work, f"Project {name!r} exists.")

    async def delete_project(self, project: str, *, domain: str | None = None) -> Project:
        def work(repo: IdentityRepository) -> Project:
            found = _project(repo, project, domain)
            repo.delete_project(found.id)
            repo.bump_generation()
            return found

        return await self._write(work)

    async def list_projects(self, *, domain: str | None = None) -> list[Project]:
        def work(repo: IdentityRepository) -> list[Project]:
            domain_id = None if domain is None else _domain(repo, domain).id
            return repo.list_projects(domain_id=domain_id)

        return await self._read(work)

    # ----------------------------------------------------------------- roles

    async def create_role(self, name: str) -> Role:
        _check_name("role", name)

        def work(repo: IdentityRepository) -> Role:
            if repo.get_role(name) is not None:
                raise Conflict(f"Role {name!r} exists.")
            role = Role(new_id(), name)
            repo.ensure_role(role, utcnow())
            return role

        return await self._unique(work, f"Role {name!r} exists.")

    async def list_roles(self) -> list[Role]:
        return await self._read(lambda repo: repo.list_roles())

    async def grant(
        self,
        role: str,
        *,
        user: str,
        project: str,
        user_domain: str | None = None,
        project_domain: str | None = None,
    ) -> Assignment:
        def work(repo: IdentityRepository) -> Assignment:
            found = _assignment(repo, role, user, project, user_domain, project_domain)
            repo.add_assignment(found.user.id, found.project.id, found.role.id)
            repo.bump_generation()
            return found

        return await self._write(work)

    async def revoke(
        self,
        role: str,
        *,
        user: str,
        project: str,
        user_domain: str | None = None,
        project_domain: str | None = None,
    ) -> Assignment:
        def work(repo: IdentityRepository) -> Assignment:
            found = _assignment(repo, role, user, project, user_domain, project_domain)
            if not repo.remove_assignment(found.user.id, found.project.id, found.role.id):
                raise NotFound(
                    f"User {found.user.name!r} holds no role {found.role.name!r} "
                    f"on project {found.project.name!r}."
                )
            repo.bump_generation()
            return found

        return await self._write(work)

    async def list_assignments(
        self,
        *,
        user: str | None = None,
        project: str | None = None,
        user_domain: str | None = None,
        project_domain: str | None = None,
    ) -> list[Assignment]:
        def work(repo: IdentityRepository) -> list[Assignment]:
            user_id = None if user is None else _user(repo, user, user_domain).id
            project_id = None if project is None else _project(repo, project, project_domain).id
            return repo.list_assignments(user_id=user_id, project_id=project_id)

        return await self._read(work)

    async def _unique(self, work: Callable[[IdentityRepository], T], message: str) -> T:
        """Run a creating unit of work; a concurrent creation of the same name is a 409."""
        try:
            return await self._write(work)
        except IntegrityError as exc:
            raise Conflict(message) from exc


def _domain(repo: IdentityRepository, ref: str | None) -> Domain:
    if ref is None:
        ref = DEFAULT_DOMAIN_ID
    found = repo.get_domain(domain_id=ref) or repo.get_domain(name=ref)
    if found is None:
        raise NotFound(f"No domain {ref!r}.")
    return found


def _user(repo: IdentityRepository, ref: str, domain: str | None) -> User:
    found = repo.find_user(ref, domain_id=_domain(repo, domain).id) or repo.get_user(ref)
    if found is None:
        raise NotFound(f"No user {ref!r}.")
    return found


def _project(repo: IdentityRepository, ref: str, domain: str | None) -> Project:
    found = repo.find_project(ref, domain_id=_domain(repo, domain).id) or repo.get_project(ref)
    if found is None:
        raise NotFound(f"No project {ref!r}.")
    return found


def _assignment(
    repo: IdentityRepository,
    role: str,
    user: str,
    project: str,
    user_domain: str | None,
    project_domain: str | None,
) -> Assignment:
    found = repo.get_role(role)
    if found is None:
        known = ", ".join(r.name for r in repo.list_roles())
        raise NotFound(f"No role {role!r} (known: {known}).")
    return Assignment(
        _user(repo, user, user_domain), _project(repo, project, project_domain), found
    )
