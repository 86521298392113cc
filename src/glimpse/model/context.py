"""Who is asking: the request context every service call receives.

The identity mode in use (noauth, built-in, Keystone) makes one of these per request;
handlers and services read it and never look at headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Viewer:
    """The part of a request context that decides which images can be seen."""

    project: str | None
    is_admin: bool


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    user_id: str | None = None
    project_id: str | None = None
    roles: tuple[str, ...] = ()
    is_admin: bool = False
    domain_id: str | None = None
    # kept for the policy engine: oslo.policy reads these names
    system_scope: str | None = None
    auth_token: str | None = field(default=None, repr=False)

    @property
    def viewer(self) -> Viewer:
        return Viewer(project=self.project_id, is_admin=self.is_admin)

    def policy_credentials(self) -> dict[str, object]:
        """What oslo.policy sees of the caller (and what its decisions are cached by)."""
        return {
            "user_id": self.user_id,
            "project_id": self.project_id,
            "roles": list(self.roles),
            "is_admin": self.is_admin,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
        }
