"""``builtin``: the image API's authenticator for glimpse's own tokens.

As Glance behind keystonemiddleware: a request needs a valid ``X-Auth-Token`` (401
otherwise, with ``WWW-Authenticate`` naming where to get one). An unscoped token is
valid but carries no project and no roles, so Glance's project-scoped rules refuse it
(403), as they do in Glance.
"""

from __future__ import annotations

from starlette.datastructures import Headers

from glimpse.auth.builtin.service import IdentityService, InvalidToken
from glimpse.auth.context import RequestContext
from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.errors import Unauthorized

_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
# what Glance (WebOb) says on a 401 from keystonemiddleware
NOT_VERIFIED = (
    "This server could not verify that you are authorized to access the document you "
    "requested. Either you supplied the wrong credentials (e.g., bad password), or your "
    "browser does not understand how to supply the credentials required."
)


def advertised_url(settings: Settings) -> str:
    """Where clients reach this server: ``public_endpoint``, else host and port."""
    if settings.public_endpoint:
        return settings.public_endpoint.rstrip("/")
    host = "127.0.0.1" if settings.host in _WILDCARD_HOSTS else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


class BuiltinAuth:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.identity = IdentityService(settings, db)
        # keystonemiddleware's form (quoted since keystonemiddleware 5.1)
        self.www_authenticate: str | None = f'Keystone uri="{advertised_url(settings)}/identity"'

    async def authenticate(self, headers: Headers, request_id: str) -> RequestContext:
        token = headers.get("x-auth-token", "").strip()
        if not token:
            raise Unauthorized(NOT_VERIFIED)
        try:
            validated = await self.identity.validate(token)
        except InvalidToken:
            raise Unauthorized(NOT_VERIFIED) from None
        return RequestContext(
            request_id=request_id,
            user_id=validated.user.id,
            # project-scoped tokens only; never domain_id, which oslo.policy would take
            # for a domain scope (the image rules are project-scoped)
            project_id=None if validated.project is None else validated.project.id,
            roles=validated.role_names,
            is_admin=validated.is_admin,
            auth_token=token,
        )

    async def close(self) -> None:
        return None
