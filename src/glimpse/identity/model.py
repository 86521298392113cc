"""The records of the built-in identity: plain dataclasses, no SQL and no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_DOMAIN_ID = "default"
DEFAULT_DOMAIN_NAME = "Default"
# the roles every deployment has (Keystone's bootstrap set, and Glance's "service")
STANDARD_ROLES = ("admin", "member", "reader", "service")
# Keystone's default role implications: a grant of the key role also gives these
IMPLIED_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("member",),
    "manager": ("member",),
    "member": ("reader",),
}


def implied_closure(names: set[str]) -> set[str]:
    """The role names a set of granted names amounts to (implications followed)."""
    found = set(names)
    pending = list(names)
    while pending:
        for implied in IMPLIED_ROLES.get(pending.pop().lower(), ()):
            if implied not in found:
                found.add(implied)
                pending.append(implied)
    return found


@dataclass(frozen=True, slots=True)
class Domain:
    id: str
    name: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    domain: Domain
    enabled: bool = True
    password_hash: str | None = field(default=None, repr=False)
    tokens_valid_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    domain: Domain
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class Role:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Assignment:
    user: User
    project: Project
    role: Role


@dataclass(frozen=True, slots=True)
class TokenPayload:
    """What a token carries (encrypted): who, for which project, since and until when.
    Roles are not in it; they are looked up when the token is validated."""

    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    # the token's own audit id, then the id of the token it was re-scoped from (if any)
    audit_ids: tuple[str, ...]
    issued_at: datetime  # naive UTC
    expires_at: datetime  # naive UTC


@dataclass(frozen=True, slots=True)
class ValidatedToken:
    """A token that was valid when it was checked, with what it means now."""

    token: str = field(repr=False)
    payload: TokenPayload
    user: User
    project: Project | None
    roles: tuple[Role, ...]
    # lower-cased role names, as oslo.policy compares them
    role_names: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "admin" in self.role_names


# ---------------------------------------------------------------- auth requests


@dataclass(frozen=True, slots=True)
class PasswordCredentials:
    password: str = field(repr=False)
    user_id: str | None = None
    user_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectScope:
    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


# a scope glimpse cannot grant (domain, system, trust): refused as Keystone refuses a
# scope the user has no role on
UNSUPPORTED_SCOPE = "unsupported"


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A parsed ``POST /v3/auth/tokens`` body."""

    methods: tuple[str, ...]
    password: PasswordCredentials | None = None
    token: str | None = field(default=None, repr=False)
    # None: unscoped (with the token method too, as Keystone: scope is never inherited)
    scope: ProjectScope | str | None = None
