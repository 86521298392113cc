"""The identity service: issues tokens for passwords and tokens, validates and revokes
them, and answers the lookups Keystone clients make. Plain Python; no HTTP, no SQL.

Validation is on every image API request, so validated tokens are remembered (see
``cache``). What can void a remembered token — a revocation, a role, user or project
change on any node — moves a counter in the database; each node reads it at most once
per ``CHANGES_POLL_SECONDS`` and forgets what it remembered when it moved. A revocation
made on this node drops its token here at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, timedelta
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from glimpse.auth.token_cache import TokenCache
from glimpse.clock import utcnow
from glimpse.concurrency import run_blocking
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import BackendUnavailable, NotAuthenticated, NotFound
from glimpse.identity.directory import effective_roles, ensure_defaults
from glimpse.identity.model import (
    AuthRequest,
    Domain,
    PasswordCredentials,
    Project,
    ProjectScope,
    Role,
    TokenPayload,
    User,
    ValidatedToken,
)
from glimpse.identity.passwords import Passwords
from glimpse.identity.repository import IdentityRepository
from glimpse.identity.tokens import TokenCodec, load_or_create_keys, new_audit_id

log = logging.getLogger(__name__)

T = TypeVar("T")

# how stale a node's view of revocations and role changes made elsewhere may be
CHANGES_POLL_SECONDS = 1.0
# how long after expiry a token still validates with ?allow_expired (Keystone's default)
ALLOW_EXPIRED_WINDOW = timedelta(days=2)
AUTH_REQUIRED = "The request you have made requires authentication."


class InvalidToken(NotFound):
    """A token that is not one of ours, or is expired, revoked or no longer backed by an
    enabled user (and project). 404 on the identity API, as Keystone; the image API
    answers 401."""


class IdentityService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self._units = UnitsOfWork(db, IdentityRepository)
        self.codec = TokenCodec(load_or_create_keys(settings.resolved_token_key_file))
        self.passwords = Passwords(
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
        )
        self._cache: TokenCache[ValidatedToken] = TokenCache(settings.token_cache_size)
        self._generation: int | None = None
        self._next_poll = 0.0
        self._hashing: asyncio.Semaphore | None = None

    async def start(self) -> None:
        await self._write(lambda repo: ensure_defaults(repo))

    # --------------------------------------------------------- units of work

    async def _read(self, work: Callable[[IdentityRepository], T]) -> T:
        try:
            return await self._units.read(work)
        except DBAPIError as exc:
            log.warning("identity store unavailable: %s", exc)
            raise BackendUnavailable("The identity store cannot be reached.") from exc

    async def _write(self, work: Callable[[IdentityRepository], T]) -> T:
        try:
            return await self._units.write(work)
        except DBAPIError as exc:
            log.warning("identity store unavailable: %s", exc)
            raise BackendUnavailable("The identity store cannot be reached.") from exc

    # ------------------------------------------------------------ issuing

    async def authenticate(self, request: AuthRequest) -> ValidatedToken:
        """A new token for the identity and scope a ``POST /v3/auth/tokens`` asks for."""
        user: User | None = None
        parent: ValidatedToken | None = None
        if not request.methods:
            raise NotAuthenticated(AUTH_REQUIRED)
        for method in dict.fromkeys(request.methods):
            if method == "password" and request.password is not None:
                found = await self._password_user(request.password)
            elif method == "token" and request.token is not None:
                parent = await self.validate(request.token)
                found = parent.user
            else:
                raise NotAuthenticated("Attempted to authenticate with an unsupported method.")
            if user is not None and found.id != user.id:
                raise NotAuthenticated(AUTH_REQUIRED)
            user = found
        assert user is not None
        project: Project | None = None
        roles: tuple[Role, ...] = ()
        scope = request.scope
        if scope is not None:
            if not isinstance(scope, ProjectScope):
                # domain, system and trust scopes: glimpse grants no roles on them
                raise NotAuthenticated(AUTH_REQUIRED)
            project, roles = await self._read(lambda repo: _project_scope(repo, user, scope))
        now = utcnow()
        if parent is None:
            methods = tuple(dict.fromkeys(request.methods))
            audit_ids: tuple[str, ...] = (new_audit_id(),)
            expires_at = now + timedelta(seconds=self.settings.token_expiration_seconds)
        else:
            # as Keystone: a re-scoped token keeps its parent's expiry and audit chain
            methods = tuple(dict.fromkeys(("token", *request.methods, *parent.payload.methods)))
            audit_ids = (new_audit_id(), parent.payload.audit_ids[-1])
            expires_at = parent.payload.expires_at
        payload = TokenPayload(
            user_id=user.id,
            project_id=None if project is None else project.id,
            methods=methods,
            audit_ids=audit_ids,
            issued_at=now,
            expires_at=expires_at,
        )
        return ValidatedToken(
            token=self.codec.encode(payload),
            payload=payload,
            user=user,
            project=project,
            roles=roles,
            role_names=tuple(role.name.lower() for role in roles),
        )

    async def _password_user(self, credentials: PasswordCredentials) -> User:
        def find(repo: IdentityRepository) -> User | None:
            if credentials.user_id is not None:
                return repo.get_user(credentials.user_id)
            assert credentials.user_name is not None
            return repo.find_user(
                credentials.user_name,
                domain_id=credentials.domain_id,
                domain_name=credentials.domain_name,
            )

        user = await self._read(find)
        stored = None if user is None else user.password_hash
        if self._hashing is None:
            # argon2 takes 64 MiB and tens of ms per check: a few at a time
            self._hashing = asyncio.Semaphore(os.cpu_count() or 2)
        async with self._hashing:
            matches = await run_blocking(self.passwords.verify, stored, credentials.password)
        if not matches or user is None or not user.enabled or not user.domain.enabled:
            raise NotAuthenticated(AUTH_REQUIRED)
        if stored is not None and self.passwords.needs_rehash(stored):
            # the cost setting changed since this hash was made: upgrade it now
            rehashed = await run_blocking(self.passwords.hash, credentials.password)
            await self._write(lambda repo: repo.update_user(user.id, password_hash=rehashed))
        return user

    # ---------------------------------------------------------- validation

    async def validate(self, token: str, *, allow_expired: bool = False) -> ValidatedToken:
        """What ``token`` means now; InvalidToken if it means nothing."""
        await self._follow_changes()
        if not allow_expired:
            cached = self._cache.get(token)
            if cached is not None:
                return replace(cached, token=token)
        payload = self.codec.decode(token)
        if payload is None:
            raise InvalidToken("Could not recognize Fernet token")
        now = utcnow()
        deadline = payload.expires_at + (ALLOW_EXPIRED_WINDOW if allow_expired else timedelta())
        if deadline <= now:
            raise InvalidToken("Failed to validate token")
        epoch = self._cache.epoch
        found = await self._read(lambda repo: _check(repo, token, payload))
        if found is None:
            raise InvalidToken("Failed to validate token")
        if payload.expires_at > now:
            until = min(
                time.time() + self.settings.token_cache_seconds,
                payload.expires_at.replace(tzinfo=UTC).timestamp(),
            )
            # the cache keeps what the token means, never the token itself
            self._cache.put(token, replace(found, token=""), until, epoch=epoch)
        return found

    async def _follow_changes(self) -> None:
        now = time.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + CHANGES_POLL_SECONDS
        try:
            current = await self._read(lambda repo: repo.generation())
        except BackendUnavailable:
            # nothing can be told about what changed meanwhile: trust nothing remembered
            self._cache.clear()
            self._generation, self._next_poll = None, 0.0
            raise
        if current != self._generation:
            self._cache.clear()
            self._generation = current

    async def revoke(self, validated: ValidatedToken) -> None:
        """Revoke a token and the tokens re-scoped from it, on every node."""
        audit_id = validated.payload.audit_ids[0]
        self._cache.drop_where(lambda cached: audit_id in cached.payload.audit_ids)
        now = utcnow()

        def work(repo: IdentityRepository) -> None:
            repo.revoke(audit_id, validated.payload.expires_at, now)
            repo.bump_generation()

        await self._write(work)

    async def purge_expired_revocations(self) -> int:
        now = utcnow()
        return await self._write(lambda repo: repo.purge_revoked(now))

    # ------------------------------------------------------------- lookups

    async def get_user(self, user_id: str) -> User | None:
        return await self._read(lambda repo: repo.get_user(user_id))

    async def list_users(self, *, domain_id: str | None, name: str | None) -> list[User]:
        return await self._read(lambda repo: repo.list_users(domain_id=domain_id, name=name))

    async def get_project(self, project_id: str) -> Project | None:
        return await self._read(lambda repo: repo.get_project(project_id))

    async def list_projects(
        self, *, domain_id: str | None = None, name: str | None = None, user_id: str | None = None
    ) -> list[Project]:
        return await self._read(
            lambda repo: repo.list_projects(domain_id=domain_id, name=name, user_id=user_id)
        )

    async def get_domain(
        self, *, domain_id: str | None = None, name: str | None = None
    ) -> Domain | None:
        return await self._read(lambda repo: repo.get_domain(domain_id=domain_id, name=name))

    async def list_domains(self) -> list[Domain]:
        return await self._read(lambda repo: repo.list_domains())


def _project_scope(
    repo: IdentityRepository, user: User, scope: ProjectScope
) -> tuple[Project, tuple[Role, ...]]:
    if scope.id is not None:
        project = repo.get_project(scope.id)
    else:
        assert scope.name is not None
        project = repo.find_project(
            scope.name, domain_id=scope.domain_id, domain_name=scope.domain_name
        )
    if project is None or not project.enabled or not project.domain.enabled:
        raise NotAuthenticated(AUTH_REQUIRED)
    roles = effective_roles(repo, user.id, project.id)
    if not roles:
        raise NotAuthenticated(AUTH_REQUIRED)
    return project, roles


def _check(repo: IdentityRepository, token: str, payload: TokenPayload) -> ValidatedToken | None:
    """The token's meaning, read in one transaction; None if it is void."""
    user = repo.get_user(payload.user_id)
    if user is None or not user.enabled or not user.domain.enabled:
        return None
    if user.tokens_valid_after is not None and payload.issued_at <= user.tokens_valid_after:
        return None
    project: Project | None = None
    roles: tuple[Role, ...] = ()
    if payload.project_id is not None:
        project = repo.get_project(payload.project_id)
        if project is None or not project.enabled or not project.domain.enabled:
            return None
        roles = effective_roles(repo, user.id, project.id)
        if not roles:
            return None
    if repo.any_revoked(payload.audit_ids):
        return None
    return ValidatedToken(
        token=token,
        payload=payload,
        user=user,
        project=project,
        roles=roles,
        role_names=tuple(role.name.lower() for role in roles),
    )
