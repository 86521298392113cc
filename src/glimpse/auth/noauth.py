"""``noauth``: no authentication, as Glance's unauthenticated pipeline.

A request without identity headers gets what Glance gives it: an admin-flagged context
with no user, no project and no roles (so new images have no owner, and rules that name
a role, such as ``publicize_image``, still refuse). For testing, ``X-Project-Id`` (or
``X-Tenant-Id``), ``X-User-Id`` and ``X-Roles`` make an ordinary caller instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from glimpse.model.context import RequestContext

IDENTITY_HEADERS = ("x-project-id", "x-tenant-id", "x-user-id", "x-roles")


def context_from_headers(headers: Mapping[str, str], request_id: str) -> RequestContext:
    if not any(name in headers for name in IDENTITY_HEADERS):
        return RequestContext(request_id=request_id, is_admin=True)
    roles = tuple(
        role.strip().lower() for role in headers.get("x-roles", "").split(",") if role.strip()
    )
    return RequestContext(
        request_id=request_id,
        user_id=headers.get("x-user-id") or None,
        project_id=headers.get("x-project-id") or headers.get("x-tenant-id") or None,
        roles=roles,
        is_admin="admin" in roles,
    )


class NoAuth:
    """The ``noauth`` mode as an authenticator: never refuses."""

    www_authenticate: str | None = None

    async def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext:
        return context_from_headers(headers, request_id)

    async def close(self) -> None:
        return None
