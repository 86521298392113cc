"""The seam every identity mode plugs into.

An :class:`Authenticator` turns a request's headers (a case-insensitive mapping) into a
:class:`RequestContext`, or refuses: :class:`glimpse.errors.NotAuthenticated` (401: no
token, or a bad, expired or revoked one) or :class:`glimpse.errors.BackendUnavailable`
(503: the identity service cannot be asked — fail closed, never open). Handlers only ever
see the context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from glimpse.model.context import RequestContext


class Authenticator(Protocol):
    # the value of WWW-Authenticate on a 401 (e.g. "Keystone uri='http://…'")
    www_authenticate: str | None

    async def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext: ...

    async def close(self) -> None: ...
