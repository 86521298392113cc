"""``/identity``: the Keystone v3 API that Keystone clients (keystoneauth, openstacksdk,
``openstack``) use to log in — version discovery, tokens, the catalog — and the few
lookups they make on the way. Served only in ``builtin`` mode, outside the image API's
token check: each route checks the caller it needs. Errors are Keystone's
(``{"error": {...}}``), not Glance's.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from glimpse.api.bodies import json_body
from glimpse.api.errors import status_of
from glimpse.api.identity.auth_request import parse_auth_request
from glimpse.api.identity.views import (
    catalog,
    collection,
    domain_document,
    project_document,
    token_document,
    user_document,
    version_document,
)
from glimpse.api.routing import Router
from glimpse.config import Settings
from glimpse.errors import GlimpseError, InvalidInput, NotAuthenticated, NotFound, NotPermitted
from glimpse.identity.model import ValidatedToken
from glimpse.identity.service import AUTH_REQUIRED, IdentityService, InvalidToken

PREFIX = "/identity"
_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FORBIDDEN = "You are not authorized to perform the requested action."


def _json(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status_code,
        headers={"Vary": "X-Auth-Token", **(headers or {})},
        media_type="application/json",
    )


log = logging.getLogger("glimpse.identity")


def _claimed_user(body: Any) -> str | None:
    """The user name (or id) a token request names, if it names one."""
    try:
        user = body["auth"]["identity"]["password"]["user"]
        return str(user.get("name") or user.get("id"))
    except (KeyError, TypeError, AttributeError):
        return None


class IdentityApi:
    def __init__(self, identity: IdentityService, settings: Settings) -> None:
        self.identity = identity
        self.settings = settings
        self.router = Router()
        v3 = f"{PREFIX}/v3"
        for path in (PREFIX, f"{PREFIX}/"):
            self.router.add(path, {"GET": self.versions, "HEAD": self.versions})
        for path in (v3, f"{v3}/"):
            self.router.add(path, {"GET": self.version, "HEAD": self.version})
        self.router.add(
            f"{v3}/auth/tokens",
            {
                "POST": self.issue_token,
                "GET": self.check_token,
                "HEAD": self.check_token,
                "DELETE": self.revoke_token,
            },
        )
        self.router.add(f"{v3}/auth/projects", {"GET": self.auth_projects})
        self.router.add(f"{v3}/auth/domains", {"GET": self.auth_domains})
        self.router.add(f"{v3}/auth/system", {"GET": self.auth_system})
        self.router.add(f"{v3}/auth/catalog", {"GET": self.auth_catalog})
        self.router.add(f"{v3}/users", {"GET": self.list_users})
        self.router.add(f"{v3}/users/{{user_id}}", {"GET": self.show_user})
        self.router.add(f"{v3}/users/{{user_id}}/projects", {"GET": self.user_projects})
        self.router.add(f"{v3}/projects", {"GET": self.list_projects})
        self.router.add(f"{v3}/projects/{{project_id}}", {"GET": self.show_project})
        self.router.add(f"{v3}/domains", {"GET": self.list_domains})
        self.router.add(f"{v3}/domains/{{domain_id}}", {"GET": self.show_domain})

    @staticmethod
    def serves(path: str) -> bool:
        return path == PREFIX or path.startswith(f"{PREFIX}/")

    async def respond(self, scope: Scope, receive: Receive, send: Send) -> Response:
        path: str = scope["path"]
        if len(path) > len(PREFIX) + 4 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/")}  # Keystone ignores a trailing slash
        request = Request(scope, receive, send)
        try:
            return await self.router.dispatch(request)
        except GlimpseError as exc:
            return self._error(exc, request)

    # ------------------------------------------------------------- helpers

    def _base_url(self, request: Request) -> str:
        return (self.settings.public_endpoint or str(request.base_url)).rstrip("/")

    def _v3_url(self, request: Request) -> str:
        return f"{self._base_url(request)}{PREFIX}/v3"

    def _error(self, exc: GlimpseError, request: Request) -> Response:
        headers = dict(exc.headers)
        status_code, title = status_of(exc)
        if status_code == 401:
            headers["WWW-Authenticate"] = f'Keystone uri="{self._v3_url(request)}"'
        body = {"error": {"code": status_code, "message": exc.message, "title": title}}
        return _json(body, status_code, headers)

    async def _caller(self, request: Request) -> ValidatedToken:
        token = request.headers.get("x-auth-token", "").strip()
        if not token:
            raise NotAuthenticated(AUTH_REQUIRED)
        try:
            return await self.identity.validate(token)
        except InvalidToken:
            raise NotAuthenticated(AUTH_REQUIRED) from None

    @staticmethod
    def _may_see(caller: ValidatedToken, user_id: str) -> bool:
        return caller.user.id == user_id or caller.is_admin

    @staticmethod
    def _require_admin(caller: ValidatedToken) -> None:
        if not caller.is_admin:
            raise NotPermitted(_FORBIDDEN)

    # ------------------------------------------------------------ discovery

    async def versions(self, request: Request) -> Response:
        document = version_document(f"{self._base_url(request)}{PREFIX}")
        return _json(
            {"versions": {"values": [document]}},
            300,
            {"Location": document["links"][0]["href"]},
        )

    async def version(self, request: Request) -> Response:
        return _json({"version": version_document(f"{self._base_url(request)}{PREFIX}")})

    # --------------------------------------------------------------- tokens

    async def issue_token(self, request: Request) -> Response:
        media_type = request.headers.get("content-type", "application/json").split(";")[0]
        if media_type.strip().lower() != "application/json":
            raise InvalidInput("Expecting to find application/json in Content-Type header.")
        try:
            body = await json_body(request)
        except InvalidInput:
            raise InvalidInput("Expecting to find valid JSON in request body.") from None
        try:
            validated = await self.identity.authenticate(parse_auth_request(body))
        except NotAuthenticated:
            client = request.client
            # who tried and from where; never what they offered
            log.warning(
                "failed login: user %r from %s", _claimed_user(body), client.host if client else "?"
            )
            raise
        entries = None
        if "nocatalog" not in request.query_params:
            entries = catalog(self._base_url(request), self.settings.identity_region)
        return _json(token_document(validated, entries), 201, {"X-Subject-Token": validated.token})

    async def _subject(self, request: Request, caller: ValidatedToken) -> ValidatedToken:
        token = request.headers.get("x-subject-token", "").strip()
        if not token:
            raise NotFound("No token in the request")
        allow_expired = request.query_params.get("allow_expired", "").lower() in _TRUE
        subject = await self.identity.validate(token, allow_expired=allow_expired)
        # Keystone's rule: your own tokens, or any token with the admin or service role
        if not (self._may_see(caller, subject.user.id) or "service" in caller.role_names):
            raise NotPermitted(_FORBIDDEN)
        return subject

    async def check_token(self, request: Request) -> Response:
        caller = await self._caller(request)
        subject = await self._subject(request, caller)
        entries = None
        if "nocatalog" not in request.query_params:
            entries = catalog(self._base_url(request), self.settings.identity_region)
        return _json(token_document(subject, entries), headers={"X-Subject-Token": subject.token})

    async def revoke_token(self, request: Request) -> Response:
        caller = await self._caller(request)
        subject = await self._subject(request, caller)
        await self.identity.revoke(subject)
        return Response(status_code=204, headers={"Vary": "X-Auth-Token"})

    # --------------------------------------------------------- /v3/auth/...

    async def auth_projects(self, request: Request) -> Response:
        caller = await self._caller(request)
        v3 = self._v3_url(request)
        found = await self.identity.list_projects(user_id=caller.user.id)
        items = [project_document(p, v3) for p in found if p.enabled and p.domain.enabled]
        return _json(collection("projects", items, f"{v3}/auth/projects"))

    async def auth_domains(self, request: Request) -> Response:
        await self._caller(request)
        # glimpse grants roles on projects only, so nobody can scope to a domain
        return _json(collection("domains", [], f"{self._v3_url(request)}/auth/domains"))

    async def auth_system(self, request: Request) -> Response:
        await self._caller(request)
        return _json({"system": [], "links": {"self": f"{self._v3_url(request)}/auth/system"}})

    async def auth_catalog(self, request: Request) -> Response:
        caller = await self._caller(request)
        if caller.project is None:
            raise NotPermitted(_FORBIDDEN)
        v3 = self._v3_url(request)
        entries = catalog(self._base_url(request), self.settings.identity_region)
        return _json({"catalog": entries, "links": {"self": f"{v3}/auth/catalog"}})

    # ----------------------------------------------- users, projects, domains

    async def show_user(self, request: Request, user_id: str) -> Response:
        caller = await self._caller(request)
        if not self._may_see(caller, user_id):
            raise NotPermitted(_FORBIDDEN)
        user = await self.identity.get_user(user_id)
        if user is None:
            raise NotFound(f"Could not find user: {user_id}.")
        return _json({"user": user_document(user, self._v3_url(request))})

    async def user_projects(self, request: Request, user_id: str) -> Response:
        caller = await self._caller(request)
        if not self._may_see(caller, user_id):
            raise NotPermitted(_FORBIDDEN)
        if await self.identity.get_user(user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
        v3 = self._v3_url(request)
        found = await self.identity.list_projects(user_id=user_id)
        return _json(
            collection(
                "projects",
                [project_document(p, v3) for p in found],
                f"{v3}/users/{user_id}/projects",
            )
        )

    async def list_users(self, request: Request) -> Response:
        self._require_admin(await self._caller(request))
        query = request.query_params
        found = await self.identity.list_users(
            domain_id=query.get("domain_id"), name=query.get("name")
        )
        v3 = self._v3_url(request)
        return _json(collection("users", [user_document(u, v3) for u in found], f"{v3}/users"))

    async def show_project(self, request: Request, project_id: str) -> Response:
        caller = await self._caller(request)
        own = caller.project is not None and caller.project.id == project_id
        if not (own or caller.is_admin):
            raise NotPermitted(_FORBIDDEN)
        project = await self.identity.get_project(project_id)
        if project is None:
            raise NotFound(f"Could not find project: {project_id}.")
        return _json({"project": project_document(project, self._v3_url(request))})

    async def list_projects(self, request: Request) -> Response:
        self._require_admin(await self._caller(request))
        query = request.query_params
        found = await self.identity.list_projects(
            domain_id=query.get("domain_id"), name=query.get("name")
        )
        v3 = self._v3_url(request)
        return _json(
            collection("projects", [project_document(p, v3) for p in found], f"{v3}/projects")
        )

    async def show_domain(self, request: Request, domain_id: str) -> Response:
        caller = await self._caller(request)
        own = {caller.user.domain.id}
        if caller.project is not None:
            own.add(caller.project.domain.id)
        if not (domain_id in own or caller.is_admin):
            raise NotPermitted(_FORBIDDEN)
        domain = await self.identity.get_domain(domain_id=domain_id)
        if domain is None:
            raise NotFound(f"Could not find domain: {domain_id}.")
        return _json({"domain": domain_document(domain, self._v3_url(request))})

    async def list_domains(self, request: Request) -> Response:
        self._require_admin(await self._caller(request))
        name = request.query_params.get("name")
        domain = await self.identity.get_domain(name=name) if name is not None else None
        found = [domain] if domain is not None else []
        if name is None:
            found = await self.identity.list_domains()
        v3 = self._v3_url(request)
        return _json(
            collection("domains", [domain_document(d, v3) for d in found], f"{v3}/domains")
        )
