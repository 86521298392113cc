"""The seam every identity mode plugs into.

An :class:`Authenticator` turns a request's headers into a :class:`RequestContext`, or
refuses: :class:`glimpse.errors.Unauthorized` (401: no token, or a bad, expired or revoked
one) or :class:`glimpse.errors.ServiceUnavailable` (503: the identity service cannot be
asked — fail closed, never open). Handlers only ever see the context.
"""

from __future__ import annotations

from typing import Protocol

from starlette.datastructures import Headers

from glimpse.auth.context import RequestContext


class Authenticator(Protocol):
    # the value of WWW-Authenticate on a 401 (e.g. "Keystone uri='http://…'")
    www_authenticate: str | None

    async def authenticate(self, headers: Headers, request_id: str) -> RequestContext: ...

    async def close(self) -> None: ...
