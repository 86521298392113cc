"""``keystone``: tokens validated by a Keystone, as keystonemiddleware's ``auth_token`` does.

glimpse signs in to Keystone with its own service credentials (keystoneauth1) and asks it
about each token it has not seen: ``GET /v3/auth/tokens`` with ``X-Subject-Token``.
keystoneauth1 is synchronous, so that call runs on a small thread pool of its own; a
token that many requests bring at once is validated once for all of them.

What was decided, and why:

- **Fail closed.** Keystone unreachable, slower than ``keystone_timeout_seconds``, refusing
  glimpse's own credentials or answering anything but 200/404 → 503; never let through.
  Keystone's 404 (unknown, expired or revoked token) → 401, with ``WWW-Authenticate:
  Keystone uri="…"`` (the app adds the header from :attr:`www_authenticate`).
- **Cache.** A token Keystone vouched for is remembered for ``token_cache_seconds`` (at
  most ``token_cache_size`` tokens), never past its own ``expires_at``. A cached token keeps
  working while Keystone is down, as with keystonemiddleware's cache: an outage of Keystone
  does not stop callers already seen. The price is the same as there: a token revoked
  meanwhile is refused only once its entry ends (within ``token_cache_seconds``).
  Refusals are not cached; a token not in the cache while Keystone is down gets 503.
- **Service tokens** (``X-Service-Token``: Nova or Cinder acting for a user). The service
  token must itself be valid and carry the ``service`` role, else 401
  (keystonemiddleware with ``service_token_roles_required = true``, its recommended
  setting). With such a token the user's token is validated with ``allow_expired``: a user
  token that expired within Keystone's ``allow_expired_window`` is accepted, so a long
  operation a user started (a snapshot upload) can finish. A revoked user token is still
  refused (Keystone checks revocation either way), and a user token accepted only because
  of the service token is not cached.
- **The context.** Role names lower-cased (as Glance's context middleware does);
  ``is_admin`` = has the ``admin`` role; ``domain_id`` only for a domain-scoped token
  (oslo.policy takes a set ``domain_id`` as domain scope, and the image rules are
  project-scoped); ``system_scope = "all"`` for a system-scoped token.
- Tokens of application credentials with access rules are refused by Keystone itself,
  since glimpse does not claim to enforce access rules (keystonemiddleware does).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlsplit

from keystoneauth1 import access
from keystoneauth1 import exceptions as ksa_exceptions
from keystoneauth1.identity import v3
from keystoneauth1.session import Session

from glimpse.auth.token_cache import TokenCache
from glimpse.config import ConfigurationError, Settings
from glimpse.errors import BackendUnavailable, NotAuthenticated
from glimpse.model.context import RequestContext

log = logging.getLogger(__name__)

SERVICE_ROLE = "service"
# keystonemiddleware's words
REQUIRES_AUTH = "The request you have made requires authentication."
UNAVAILABLE = "The Keystone service is temporarily unavailable."

_VALIDATION_THREADS = 8


def check_keystone_settings(settings: Settings) -> None:
    """Refuse to start without what Keystone mode needs, naming the missing settings."""
    missing = [
        f"keystone_{name} (GLIMPSE_KEYSTONE_{name.upper()})"
        for name in ("auth_url", "username", "password", "project_name")
        if not getattr(settings, f"keystone_{name}")
    ]
    if missing:
        raise ConfigurationError(f"auth_mode = keystone needs {', '.join(missing)}")
    for name in ("keystone_auth_url", "keystone_www_authenticate_uri"):
        url = getattr(settings, name)
        if url is not None and (
            urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc
        ):
            raise ConfigurationError(f"{name} must be an http(s) URL, not {url!r}")
    if settings.keystone_timeout_seconds <= 0:
        raise ConfigurationError("keystone_timeout_seconds must be more than 0")
    if settings.token_cache_seconds < 0 or settings.token_cache_size < 0:
        raise ConfigurationError("token_cache_seconds and token_cache_size cannot be negative")


def identity_v3_url(auth_url: str) -> str:
    """``http://h:5000`` or ``http://h:5000/v3`` → ``http://h:5000/v3``."""
    base = auth_url.rstrip("/")
    return base if base.endswith("/v3") else f"{base}/v3"


@dataclass(frozen=True, slots=True)
class Identity:
    """What a token stands for: the part of a context that the cache keeps."""

    user_id: str | None
    project_id: str | None
    roles: tuple[str, ...]
    domain_id: str | None
    system_scope: str | None
    expires_at: float  # seconds since the epoch

    @classmethod
    def from_access(cls, info: access.AccessInfoV3) -> Identity:
        if info.expires is None:
            raise ValueError("the token has no expires_at")
        return cls(
            user_id=info.user_id,
            project_id=info.project_id,
            roles=tuple(name.lower() for name in info.role_names or ()),
            domain_id=info.domain_id if info.domain_scoped else None,
            system_scope="all" if info.system_scoped else None,
            expires_at=info.expires.timestamp(),
        )

    def context(self, request_id: str, token: str) -> RequestContext:
        return RequestContext(
            request_id=request_id,
            user_id=self.user_id,
            project_id=self.project_id,
            roles=self.roles,
            is_admin="admin" in self.roles,
            domain_id=self.domain_id,
            system_scope=self.system_scope,
            auth_token=token,
        )


class KeystoneAuthenticator:
    def __init__(self, settings: Settings) -> None:
        check_keystone_settings(settings)
        assert settings.keystone_auth_url is not None and settings.keystone_password is not None
        auth_url = identity_v3_url(settings.keystone_auth_url)
        self.www_authenticate: str | None = (
            f'Keystone uri="{settings.keystone_www_authenticate_uri or settings.keystone_auth_url}"'
        )
        self._tokens_url = f"{auth_url}/auth/tokens"
        self._session = Session(
            auth=v3.Password(
                auth_url=auth_url,
                username=settings.keystone_username,
                password=settings.keystone_password,
                project_name=settings.keystone_project_name,
                user_domain_name=settings.keystone_user_domain_name,
                project_domain_name=settings.keystone_project_domain_name,
            ),
            timeout=settings.keystone_timeout_seconds,
        )
        self._cache_seconds = settings.token_cache_seconds
        self._cache: TokenCache[Identity] = TokenCache(settings.token_cache_size)
        self._pool = ThreadPoolExecutor(_VALIDATION_THREADS, thread_name_prefix="glimpse-keystone")
        self._in_flight: dict[tuple[bytes, bool], asyncio.Task[Identity]] = {}

    async def authenticate(self, headers: Mapping[str, str], request_id: str) -> RequestContext:
        token = (headers.get("x-auth-token") or headers.get("x-storage-token") or "").strip()
        if not token:
            raise NotAuthenticated(REQUIRES_AUTH)
        allow_expired = False
        service_token = headers.get("x-service-token", "").strip()
        if service_token:
            service = await self._identity(service_token, allow_expired=False)
            if SERVICE_ROLE not in service.roles:
                raise NotAuthenticated(REQUIRES_AUTH)
            allow_expired = True
        user = await self._identity(token, allow_expired=allow_expired)
        return user.context(request_id, token)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._session.session.close()

    # ---------------------------------------------------------------- internals

    async def _identity(self, token: str, *, allow_expired: bool) -> Identity:
        # latin-1: header values arrive decoded that way, so it round-trips any of them
        key = hashlib.sha256(token.encode("latin-1")).digest()
        found = self._cache.get(token)
        if found is not None:
            return found
        flight = (key, allow_expired)
        task = self._in_flight.get(flight)
        if task is None:
            task = asyncio.ensure_future(self._validate(token, allow_expired))
            self._in_flight[flight] = task
            task.add_done_callback(partial(self._landed, flight))
        # shielded: one caller leaving does not cancel the others' validation
        return await asyncio.shield(task)

    def _landed(self, flight: tuple[bytes, bool], task: asyncio.Task[Identity]) -> None:
        del self._in_flight[flight]
        if not task.cancelled():
            task.exception()  # retrieved: its waiters may all have gone

    async def _validate(self, token: str, allow_expired: bool) -> Identity:
        loop = asyncio.get_running_loop()
        identity = await loop.run_in_executor(self._pool, self._ask_keystone, token, allow_expired)
        self._cache.put(
            token, identity, min(time.time() + self._cache_seconds, identity.expires_at)
        )
        return identity

    def _ask_keystone(self, token: str, allow_expired: bool) -> Identity:
        """In a worker thread: Keystone's word on one token."""
        query = "?nocatalog&allow_expired=1" if allow_expired else "?nocatalog"
        try:
            response = self._session.get(
                self._tokens_url + query,
                headers={"X-Subject-Token": token},
                raise_exc=False,
            )
        except ksa_exceptions.ClientException as exc:
            # connection refused or reset, timeouts, glimpse's own credentials refused
            log.error("cannot validate tokens with Keystone at %s: %s", self._tokens_url, exc)
            raise BackendUnavailable(UNAVAILABLE) from exc
        if response.status_code == 404:
            raise NotAuthenticated(REQUIRES_AUTH)
        if response.status_code != 200:
            log.error(
                "Keystone answered %s to a token validation: %.200s",
                response.status_code,
                response.text,
            )
            raise BackendUnavailable(UNAVAILABLE)
        try:
            info = access.create(body=response.json(), auth_token=token)
            assert isinstance(info, access.AccessInfoV3)
            identity = Identity.from_access(info)
        except Exception as exc:
            log.error("Keystone's token validation could not be read: %s", exc)
            raise BackendUnavailable(UNAVAILABLE) from exc
        if not allow_expired and identity.expires_at <= time.time():
            raise NotAuthenticated(REQUIRES_AUTH)
        return identity
