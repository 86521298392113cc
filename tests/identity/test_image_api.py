"""The image API behind built-in identity: who may do what with which token, and what
a bad, foreign or oversized token gets (a clean 401, never a 5xx)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from cryptography.fernet import Fernet

from glimpse.clock import utcnow
from glimpse.identity.model import TokenPayload
from glimpse.identity.tokens import TokenCodec, new_audit_id
from tests.identity.conftest import Live, Node, auth

CHALLENGE = 'Keystone uri="http://127.0.0.1:9292/identity"'
IMAGE = {"name": "img", "disk_format": "raw", "container_format": "bare"}


async def test_no_token_is_401_with_a_challenge(node: Node) -> None:
    response = await node.client.get("/v2/images")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    # discovery needs no token, as in Glance
    assert (await node.client.get("/")).status_code == 300


async def test_challenge_names_the_public_endpoint(make_node: object) -> None:
    node: Node = await make_node(public_endpoint="https://cloud.example/")  # type: ignore[operator]
    response = await node.client.get("/v2/images")
    assert response.headers["www-authenticate"] == 'Keystone uri="https://cloud.example/identity"'


def _foreign_token(node: Node) -> str:
    """A well-formed token for a real user and project, signed with another key."""
    now = utcnow()
    payload = TokenPayload(
        user_id=node.accounts.users["root"],
        project_id=node.accounts.projects["alpha"],
        methods=("password",),
        audit_ids=(new_audit_id(),),
        issued_at=now,
        expires_at=now + timedelta(hours=1),
    )
    return TokenCodec([Fernet.generate_key()]).encode(payload)


@pytest.mark.parametrize(
    "kind",
    [
        "garbage",
        "truncated",
        "one character changed",
        "another key",
        "not ascii",
        "fernet-shaped",
        "8 KiB",
        "1 MiB",
    ],
)
async def test_bad_tokens_are_401(node: Node, kind: str) -> None:
    good = await node.token("root", project="alpha")
    token = {
        "garbage": "garbage",
        "truncated": good[: len(good) // 2],
        "one character changed": good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:],
        "another key": _foreign_token(node),
        "not ascii": good[:-1] + "é",
        "fernet-shaped": "gAAAAA" + "A" * 200,
        "8 KiB": good * (8192 // len(good) + 1),
        "1 MiB": "x" * (1 << 20),
    }[kind]
    # as bytes: a header may carry any octet
    headers = {"X-Auth-Token": token.encode("latin-1")}
    response = await node.client.get("/v2/images", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize(("size", "status"), [(16 << 10, 401), (256 << 10, 431)])
def test_oversized_tokens_on_a_real_server(live_builtin: Live, size: int, status: int) -> None:
    # a token too long to be one is 401; past the edge's header cap (64 KiB) the
    # request is refused before it is read, 431
    headers = {"X-Auth-Token": b"g" * size}
    for path in ("/v2/images", "/identity/v3/auth/tokens"):
        response = httpx.get(f"{live_builtin.url}{path}", headers=headers, timeout=30)
        assert response.status_code == status, path


async def test_unscoped_tokens_are_refused_by_policy(node: Node) -> None:
    """keystonemiddleware accepts an unscoped token; Glance's project-scoped rules then
    find no project and no role and answer 403."""
    token = await node.token("root")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 403
    created = await node.client.post("/v2/images", json=IMAGE, headers=auth(token))
    assert created.status_code == 403
    # what no rule guards still answers
    schema = await node.client.get("/v2/schemas/image", headers=auth(token))
    assert schema.status_code == 200


async def test_images_belong_to_the_tokens_project(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    bob = await node.token("bob", project="beta")
    created = await node.client.post("/v2/images", json=IMAGE, headers=auth(alice))
    assert created.status_code == 201, created.text
    image = created.json()
    assert image["owner"] == node.accounts.projects["alpha"]
    path = f"/v2/images/{image['id']}"
    assert (await node.client.get(path, headers=auth(alice))).status_code == 200
    # invisible to another project: 404, as Glance
    assert (await node.client.get(path, headers=auth(bob))).status_code == 404
    listed = await node.client.get("/v2/images", headers=auth(bob))
    assert listed.status_code == 200 and listed.json()["images"] == []
    patch = await node.client.patch(
        path,
        json=[{"op": "replace", "path": "/name", "value": "mine"}],
        headers={**auth(bob), "Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert patch.status_code == 404
    assert (await node.client.delete(path, headers=auth(bob))).status_code == 404
    # an image for another project cannot be made with this token
    other = await node.client.post(
        "/v2/images", json={**IMAGE, "owner": node.accounts.projects["beta"]}, headers=auth(alice)
    )
    assert other.status_code == 403


async def test_a_member_cannot_publicize_an_admin_can(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    root = await node.token("root", project="alpha")
    public = {**IMAGE, "visibility": "public"}
    assert (
        await node.client.post("/v2/images", json=public, headers=auth(alice))
    ).status_code == 403
    created = await node.client.post("/v2/images", json=public, headers=auth(root))
    assert created.status_code == 201
    # the public image is visible to another project
    bob = await node.token("bob", project="beta")
    shown = await node.client.get(f"/v2/images/{created.json()['id']}", headers=auth(bob))
    assert shown.status_code == 200


async def test_a_removed_role_takes_effect_within_a_second(node: Node) -> None:
    alice = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(alice))).status_code == 200
    await node.accounts.directory.revoke("member", user="alice", project="alpha")
    await asyncio.sleep(1.1)
    # no role left on the project: the token is void, as Keystone's validation says
    assert (await node.client.get("/v2/images", headers=auth(alice))).status_code == 401
    await node.accounts.directory.grant("reader", user="alice", project="alpha")
    reader = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(reader))).status_code == 200
    created = await node.client.post("/v2/images", json=IMAGE, headers=auth(reader))
    assert created.status_code == 403
