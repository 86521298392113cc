"""``builtin``: the image API's authenticator for glimpse's own tokens.

As Glance behind keystonemiddleware: a request needs a valid ``X-Auth-Token`` (401
otherwise, with ``WWW-Authenticate`` naming where to get one). An unscoped token is
valid but carries no project and no roles, so Glance's project-scoped rules refuse it
(403), as they do in Glance.
"""

from __future__ import annotations

from collections.abc import Mapping

from glimpse.config import Settings
from glimpse.db.engine import Database
from glimpse.errors import NotAuthenticated
from glimpse.identity.service import IdentityService, InvalidToken
from glimpse.model.context import RequestContext

# what Glance (WebOb) says on a 401 from keystonemiddleware
NOT_VERIFIED = (
    "This server could not verify that you are authorized to access the document you "
    "requested. Either you supplied the wrong credentials (e.g., bad password), or your "
    "browser does not understand how to supply the credentials required."
)


class BuiltinAuth:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.identity = IdentityService(settings, db)
        # keystonemiddleware's form (quoted since keystonemiddleware 5.1)
        self.www_authenticate: str | None = f'Keystone uri="{settings.public_url()}/identity"'

    async def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext:
        token = headers.get("x-auth-token", "").strip()
        if not token:
            raise NotAuthenticated(NOT_VERIFIED)
        try:
            validated = await self.identity.validate(token)
        except InvalidToken:
            raise NotAuthenticated(NOT_VERIFIED) from None
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
