"""``/identity/v3/auth/tokens``: issuing (password and token methods, every way a
keystoneauth client names users and projects), validation, revocation, expiry, and
Keystone's answers to bad credentials and malformed bodies."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from tests.identity.conftest import PASSWORD, Node, auth, password_body

WWW_AUTHENTICATE = 'Keystone uri="http://glimpse.test/identity/v3"'


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


async def issue(node: Node, body: Any, query: str = "") -> Any:
    return await node.client.post(f"/identity/v3/auth/tokens{query}", json=body)


async def test_password_token_scoped_to_a_project(node: Node) -> None:
    response = await issue(node, password_body("alice", project="alpha"))
    assert response.status_code == 201, response.text
    assert response.headers["vary"] == "X-Auth-Token"
    token = response.json()["token"]
    assert response.headers["x-subject-token"].startswith("gAAAAA")
    assert list(token) == [
        "methods", "user", "audit_ids", "expires_at", "issued_at", "project", "is_domain",
        "roles", "catalog",
    ]  # fmt: skip
    assert token["methods"] == ["password"]
    assert token["user"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": node.accounts.users["alice"],
        "name": "alice",
        "password_expires_at": None,
    }
    assert token["project"] == {
        "domain": {"id": "default", "name": "Default"},
        "id": node.accounts.projects["alpha"],
        "name": "alpha",
    }
    assert token["is_domain"] is False
    # member implies reader, as Keystone's default role implications
    assert sorted(role["name"] for role in token["roles"]) == ["member", "reader"]
    assert all(len(role["id"]) == 32 for role in token["roles"])
    assert len(token["audit_ids"]) == 1 and len(token["audit_ids"][0]) == 22
    lifetime = parse_time(token["expires_at"]) - parse_time(token["issued_at"])
    assert lifetime.total_seconds() == pytest.approx(3600, abs=1)
    assert {entry["type"] for entry in token["catalog"]} == {"identity", "image"}


async def test_admin_role_implies_member_and_reader(node: Node) -> None:
    response = await issue(node, password_body("root", project="alpha"))
    roles = {role["name"] for role in response.json()["token"]["roles"]}
    assert roles == {"admin", "member", "reader"}


@pytest.mark.parametrize(
    "user",
    [
        {"name": "alice", "domain": {"id": "default"}},
        {"name": "alice", "domain": {"name": "Default"}},
        {"id": "<alice>"},
    ],
)
@pytest.mark.parametrize(
    "project",
    [{"id": "<alpha>"}, {"name": "alpha", "domain": {"id": "default"}}],
)
async def test_every_way_to_name_user_and_project(
    node: Node, user: dict[str, Any], project: dict[str, Any]
) -> None:
    ids = {"<alice>": node.accounts.users["alice"], "<alpha>": node.accounts.projects["alpha"]}
    user = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in user.items()}
    project = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in project.items()}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {**user, "password": PASSWORD}},
            },
            "scope": {"project": project},
        }
    }
    response = await issue(node, body, "?nocatalog")
    assert response.status_code == 201, response.text
    assert response.json()["token"]["project"]["id"] == ids["<alpha>"]


@pytest.mark.parametrize("scope", [None, "unscoped"])
async def test_unscoped_token(node: Node, scope: str | None) -> None:
    body = password_body("alice")
    if scope is not None:
        body["auth"]["scope"] = scope
    response = await issue(node, body)
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert list(token) == ["methods", "user", "audit_ids", "expires_at", "issued_at"]


async def test_nocatalog(node: Node) -> None:
    response = await issue(node, password_body("alice", project="alpha"), "?nocatalog")
    assert "catalog" not in response.json()["token"]
    assert "roles" in response.json()["token"]


async def test_rescope_with_the_token_method(node: Node) -> None:
    unscoped = await issue(node, password_body("alice"))
    parent = unscoped.json()["token"]
    body = {
        "auth": {
            "identity": {
                "methods": ["token"],
                "token": {"id": unscoped.headers["x-subject-token"]},
            },
            "scope": {"project": {"id": node.accounts.projects["alpha"]}},
        }
    }
    response = await issue(node, body, "?nocatalog")
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    assert token["methods"] == ["token", "password"]
    assert token["project"]["name"] == "alpha"
    # Keystone: a new audit id chained to the parent's, and the parent's expiry
    assert token["audit_ids"][1] == parent["audit_ids"][0]
    assert token["audit_ids"][0] != parent["audit_ids"][0]
    assert token["expires_at"] == parent["expires_at"]
    # without a scope the new token is unscoped (scope is never inherited)
    del body["auth"]["scope"]
    body["auth"]["identity"]["token"]["id"] = response.headers["x-subject-token"]
    again = await issue(node, body, "?nocatalog")
    assert again.status_code == 201
    assert "project" not in again.json()["token"]


async def test_rescope_to_a_project_without_a_role_fails(node: Node) -> None:
    token = await node.token("alice")
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": token}},
            "scope": {"project": {"name": "beta", "domain": {"id": "default"}}},
        }
    }
    response = await issue(node, body)
    assert response.status_code == 401


async def test_token_method_with_an_unknown_token_is_404_as_keystone(node: Node) -> None:
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": "garbage"}}}}
    response = await issue(node, body)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Could not recognize Fernet token"


# ------------------------------------------------------------- bad credentials


@pytest.mark.parametrize(
    "case",
    ["wrong password", "unknown user", "unknown domain", "no password", "unsupported method"],
)
async def test_bad_credentials_are_401(node: Node, case: str) -> None:
    body = password_body("alice", project="alpha")
    user = body["auth"]["identity"]["password"]["user"]
    if case == "wrong password":
        user["password"] = "wrong"
    elif case == "unknown user":
        user["name"] = "mallory"
    elif case == "unknown domain":
        user["domain"] = {"name": "Elsewhere"}
    elif case == "no password":
        del user["password"]
    else:
        body["auth"]["identity"] = {"methods": ["totp"], "totp": {}}
    response = await issue(node, body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == WWW_AUTHENTICATE
    assert response.json()["error"]["code"] == 401
    assert "x-subject-token" not in response.headers


async def test_disabled_user_is_401_and_its_tokens_die(node: Node) -> None:
    token = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    await node.accounts.directory.set_enabled("alice", False)
    response = await issue(node, password_body("alice", project="alpha"))
    assert response.status_code == 401
    await asyncio.sleep(1.1)  # the node notices the change at its next poll
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 401


async def test_new_password_voids_old_tokens(node: Node) -> None:
    token = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    await node.accounts.directory.set_password("alice", "new secret")
    assert (await issue(node, password_body("alice"))).status_code == 401
    assert (await issue(node, password_body("alice", "new secret"))).status_code == 201
    await asyncio.sleep(1.1)
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 401


@pytest.mark.parametrize("project", ["beta", "nowhere"])
async def test_project_without_a_role_or_unknown_is_401(node: Node, project: str) -> None:
    response = await issue(node, password_body("alice", project=project))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == WWW_AUTHENTICATE


async def test_domain_and_system_scopes_are_refused(node: Node) -> None:
    for scope in ({"domain": {"id": "default"}}, {"system": {"all": True}}):
        body = password_body("root")
        body["auth"]["scope"] = scope
        assert (await issue(node, body)).status_code == 401


# ------------------------------------------------------------- malformed bodies


def _body(**changes: Any) -> Any:
    body: Any = password_body("alice", project="alpha")
    auth = body["auth"]
    user = auth["identity"]["password"]["user"]
    for name, value in changes.items():
        if name == "user":
            auth["identity"]["password"]["user"] = value
        elif name == "user_field":
            user.update(value)
        elif name == "drop_user_field":
            del user[value]
        elif name == "identity":
            auth["identity"] = value
        elif name == "scope":
            auth["scope"] = value
    return body


MALFORMED: dict[str, Any] = {
    "array": [],
    "no auth": {},
    "no identity": {"auth": {}},
    "no methods": _body(identity={"password": {}}),
    "methods not a list": _body(identity={"methods": "password"}),
    "password block missing": _body(identity={"methods": ["password"]}),
    "user missing": _body(identity={"methods": ["password"], "password": {}}),
    "user without id or name": _body(user={"password": PASSWORD}),
    "name without domain": _body(drop_user_field="domain"),
    "domain without id or name": _body(user_field={"domain": {}}),
    "password not a string": _body(user_field={"password": 5}),
    "token block missing": _body(identity={"methods": ["token"]}),
    "token without id": _body(identity={"methods": ["token"], "token": {}}),
    "scope project without id or name": _body(scope={"project": {}}),
    "scope project name without domain": _body(scope={"project": {"name": "alpha"}}),
    "scope project and domain": _body(scope={"project": {"id": "x"}, "domain": {"id": "default"}}),
    "scope an unknown string": _body(scope="everything"),
    "scope empty": _body(scope={}),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_bodies_are_400(node: Node, body: Any) -> None:
    response = await issue(node, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{not json", "application/json"), (b"", "application/json"), (b"{}", "text/plain")],
)
async def test_unreadable_bodies_are_400(node: Node, content: bytes, content_type: str) -> None:
    response = await node.client.post(
        "/identity/v3/auth/tokens", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["error"]["title"] == "Bad Request"


# ------------------------------------------------------------------ validation


async def test_validate_own_token(node: Node) -> None:
    token = await node.token("alice", project="alpha")
    response = await node.validate(token)
    assert response.status_code == 200
    assert response.headers["x-subject-token"] == token
    body = response.json()["token"]
    assert body["project"]["name"] == "alpha" and "catalog" in body
    head = await node.client.head(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}
    )
    assert head.status_code == 200
    assert head.headers["x-subject-token"] == token


async def test_validate_another_users_token_needs_admin(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    bob = await node.token("bob", project="beta")
    root = await node.token("root", project="alpha")
    assert (await node.validate(alice, by=bob)).status_code == 403
    assert (await node.validate(alice, by=root)).status_code == 200


@pytest.mark.parametrize(
    ("caller", "subject", "status"),
    [
        (None, "valid", 401),
        ("garbage", "valid", 401),
        ("valid", None, 404),
        ("valid", "garbage", 404),
        ("valid", "truncated", 404),
        ("valid", "huge", 404),
        ("huge", "valid", 401),
    ],
)
async def test_validate_refusals(
    node: Node, caller: str | None, subject: str | None, status: int
) -> None:
    token = await node.token("alice", project="alpha")
    values = {
        "valid": token,
        "garbage": "garbage",
        "truncated": token[:-20],
        "huge": "gAAAAA" * 50_000,
    }
    headers = {}
    if caller is not None:
        headers["X-Auth-Token"] = values[caller]
    if subject is not None:
        headers["X-Subject-Token"] = values[subject]
    response = await node.client.get("/identity/v3/auth/tokens", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"] == WWW_AUTHENTICATE


# ------------------------------------------------------------------ revocation


async def test_revoke(node: Node) -> None:
    token = await node.token("alice", project="alpha")
    other = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    headers = {"X-Auth-Token": other, "X-Subject-Token": token}
    revoked = await node.client.delete("/identity/v3/auth/tokens", headers=headers)
    assert revoked.status_code == 204
    # at once on this node, everywhere: validation, the image API, as a caller
    assert (await node.validate(token, by=other)).status_code == 404
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 401
    assert (await node.validate(other, by=token)).status_code == 401
    again = await node.client.delete("/identity/v3/auth/tokens", headers=headers)
    assert again.status_code == 404
    # the other token of the same user is untouched
    assert (await node.client.get("/v2/images", headers=auth(other))).status_code == 200


async def test_revoking_a_token_revokes_its_rescoped_children_only(node: Node) -> None:
    parent = await node.token("alice")

    async def rescope(token: str) -> str:
        body = {
            "auth": {
                "identity": {"methods": ["token"], "token": {"id": token}},
                "scope": {"project": {"id": node.accounts.projects["alpha"]}},
            }
        }
        response = await issue(node, body, "?nocatalog")
        assert response.status_code == 201
        return str(response.headers["x-subject-token"])

    child, sibling = await rescope(parent), await rescope(parent)
    # revoking a child leaves its parent and sibling alone
    await node.client.delete(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": child, "X-Subject-Token": child}
    )
    assert (await node.validate(parent)).status_code == 200
    assert (await node.client.get("/v2/images", headers=auth(sibling))).status_code == 200
    # revoking the parent takes every token re-scoped from it (as Keystone)
    await node.client.delete(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": parent, "X-Subject-Token": parent}
    )
    assert (await node.client.get("/v2/images", headers=auth(sibling))).status_code == 401


async def test_revocation_reaches_another_node_within_a_second(make_node: Any) -> None:
    first: Node = await make_node()
    second: Node = await make_node()
    token = await first.token("alice", project="alpha")
    # the second node validates (and remembers) the token
    assert (await second.client.get("/v2/images", headers=auth(token))).status_code == 200
    await first.client.delete(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}
    )
    assert (await first.client.get("/v2/images", headers=auth(token))).status_code == 401
    await asyncio.sleep(1.1)
    assert (await second.client.get("/v2/images", headers=auth(token))).status_code == 401


async def test_revocations_are_purged_once_their_tokens_expire(make_node: Any) -> None:
    node: Node = await make_node(token_expiration_seconds=1)
    token = await node.token("alice", project="alpha")
    await node.client.delete(
        "/identity/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token}
    )
    identity = node.app.identity_api
    assert identity is not None
    assert await identity.identity.purge_expired_revocations() == 0
    await asyncio.sleep(1.1)
    assert await identity.identity.purge_expired_revocations() == 1


# ---------------------------------------------------------------------- expiry


async def test_expired_tokens_fail_everywhere(make_node: Any) -> None:
    node: Node = await make_node(token_expiration_seconds=1)
    token = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    await asyncio.sleep(1.1)
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 401
    fresh = await node.token("alice", project="alpha")
    assert (await node.validate(token, by=fresh)).status_code == 404
    # a service may still read an expired token, as keystonemiddleware asks Keystone
    response = await node.client.get(
        "/identity/v3/auth/tokens?allow_expired=1",
        headers={"X-Auth-Token": fresh, "X-Subject-Token": token},
    )
    assert response.status_code == 200
