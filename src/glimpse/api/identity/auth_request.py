"""The body of ``POST /identity/v3/auth/tokens`` → an ``AuthRequest``, with Keystone's
400s for what is malformed (wrong credentials are the service's 401s, not ours)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator

from glimpse.errors import InvalidInput
from glimpse.identity.model import (
    UNSUPPORTED_SCOPE,
    AuthRequest,
    PasswordCredentials,
    ProjectScope,
)

_STRING = {"type": "string"}
_REF = {"type": "object", "properties": {"id": _STRING, "name": _STRING}}
_SCHEMA = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "identity": {
                    "type": "object",
                    "properties": {
                        "methods": {"type": "array", "items": _STRING},
                        "password": {
                            "type": "object",
                            "properties": {
                                "user": {
                                    "type": "object",
                                    "properties": {
                                        "id": _STRING,
                                        "name": _STRING,
                                        "password": _STRING,
                                        "domain": _REF,
                                    },
                                }
                            },
                        },
                        "token": {
                            "type": "object",
                            "properties": {"id": _STRING},
                            "required": ["id"],
                        },
                    },
                    "required": ["methods"],
                },
                "scope": {
                    "type": ["object", "string"],
                    "properties": {
                        "project": {
                            "type": "object",
                            "properties": {"id": _STRING, "name": _STRING, "domain": _REF},
                        },
                        "domain": _REF,
                        "OS-TRUST:trust": {"type": "object"},
                        "system": {"type": "object"},
                    },
                },
            },
            "required": ["identity"],
        }
    },
    "required": ["auth"],
}
_VALIDATOR = Draft7Validator(_SCHEMA)
_SCOPES = ("system", "project", "domain", "OS-TRUST:trust")


def _expecting(what: str, where: str) -> InvalidInput:
    return InvalidInput(
        f"Expecting to find {what} in {where}. The server could not comply with the request "
        "since it is either malformed or otherwise incorrect. The client is assumed to be in "
        "error."
    )


def _id_or_name(ref: dict[str, Any], field: str) -> None:
    if "id" not in ref and "name" not in ref:
        raise InvalidInput(f"Invalid input for field {field}: id or name must be present.")


def parse_auth_request(body: Any) -> AuthRequest:
    error = next(iter(sorted(_VALIDATOR.iter_errors(body), key=lambda e: list(e.path))), None)
    if error is not None:
        field = "/".join(str(part) for part in error.absolute_path)
        raise InvalidInput(f"Invalid input for field '{field}': {error.message}")
    auth = body["auth"]
    identity = auth["identity"]
    methods = tuple(identity["methods"])
    password = None
    token = None
    if "password" in methods:
        if "password" not in identity:
            raise _expecting("password", "identity")
        user = identity["password"].get("user")
        if user is None:
            raise _expecting("user", "password")
        _id_or_name(user, "identity/password/user")
        domain = user.get("domain")
        if "id" not in user:
            if domain is None:
                raise _expecting("domain", "user")
            _id_or_name(domain, "identity/password/user/domain")
        password = PasswordCredentials(
            # no password: a check that fails (401), as Keystone
            password=user.get("password", ""),
            user_id=user.get("id"),
            user_name=None if "id" in user else user["name"],
            domain_id=None if domain is None else domain.get("id"),
            domain_name=None if domain is None or "id" in domain else domain.get("name"),
        )
    if "token" in methods:
        if "token" not in identity:
            raise _expecting("token", "identity")
        token = identity["token"]["id"].strip()
    return AuthRequest(
        methods=methods, password=password, token=token, scope=_scope(auth.get("scope"))
    )


def _scope(scope: Any) -> ProjectScope | str | None:
    if scope is None or scope == "unscoped":
        return None
    named = [key for key in _SCOPES if isinstance(scope, dict) and key in scope]
    if len(named) != 1:
        raise _expecting("system, project, domain, OS-TRUST:trust or unscoped", "scope")
    if named[0] != "project":
        return UNSUPPORTED_SCOPE
    project = scope["project"]
    _id_or_name(project, "scope/project")
    if "id" in project:
        return ProjectScope(id=project["id"])
    domain = project.get("domain")
    if domain is None:
        raise _expecting("domain", "project")
    _id_or_name(domain, "scope/project/domain")
    return ProjectScope(
        name=project["name"],
        domain_id=domain.get("id"),
        domain_name=None if "id" in domain else domain.get("name"),
    )
