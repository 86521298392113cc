"""Property protections (``property_protection_file``) in both formats, with real tokens
of the built-in identity and of a real Keystone.

The walk below was run against Glance 33 configured with the same files (its
``context`` pipeline given the same roles): every answer is Glance's except where a
comment says why glimpse differs (Glance loses data there).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.builtin_callers import CHEAP_HASHES, builtin_callers, create_accounts
from tests.support.keystone import Keystone
from tests.support.personas import V21, Callers
from tests.support.server import ServerProcess

ROLES_FILE = """\
[^x_owner_.*]
create = admin,member
read = admin,member
update = admin
delete = admin

[^x_hidden]
create = member
read = admin
update = member
delete = member

[^x_any]
create = @
read = @
update = @
delete = !

[^x_empty]
create = member
read = member
update =
delete = member

[.*]
create = admin
read = admin
update = admin
delete = admin
"""

# the same protections as policies of the policy file
POLICIES_FILE = """\
[^x_owner_.*]
create = pp_admin_or_member
read = pp_admin_or_member
update = pp_admin
delete = pp_admin

[^x_hidden]
create = pp_member
read = pp_admin
update = pp_member
delete = pp_member

[^x_any]
create = @
read = @
update = @
delete = !

[^x_empty]
create = pp_member
read = pp_member
update =
delete = pp_member

[.*]
create = pp_admin
read = pp_admin
update = pp_admin
delete = pp_admin
"""
POLICY_FILE = """\
"pp_admin": "role:admin"
"pp_member": "role:member"
"pp_admin_or_member": "role:admin or role:member"
"""

ALL = {"x_other": "1", "x_hidden": "h", "x_owner_a": "o", "x_any": "a", "x_empty": "e"}


def extras(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k.startswith("x_")}


def replace(name: str, value: str) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": f"/{name}", "value": value}]


def add(name: str, value: str) -> list[dict[str, Any]]:
    return [{"op": "add", "path": f"/{name}", "value": value}]


def remove(name: str) -> list[dict[str, Any]]:
    return [{"op": "remove", "path": f"/{name}"}]


# (persona, PATCH operations, status, the x_* properties of the answer)
WALK: list[tuple[str, list[dict[str, Any]], int, dict[str, str] | None]] = [
    ("owner_member", replace("x_owner_a", "2"), 403, None),
    ("owner_member", remove("x_owner_a"), 403, None),
    # x_hidden exists but the member may not read it: to the member it does not exist
    ("owner_member", replace("x_hidden", "2"), 409, None),
    # creating it over the unseen value: Glance answers 500 (and keeps the value)
    ("owner_member", add("x_hidden", "3"), 403, None),
    ("owner_member", remove("x_hidden"), 409, None),
    ("owner_member", remove("x_any"), 403, None),
    ("owner_member", replace("x_any", "b"), 200, {"x_owner_a": "o", "x_any": "b", "x_empty": "e"}),
    ("owner_member", add("x_any2", "b"), 200,
     {"x_owner_a": "o", "x_any": "b", "x_empty": "e", "x_any2": "b"}),
    ("owner_member", replace("x_empty", "f"), 403, None),  # update = (empty): no one
    ("owner_member", [*replace("name", "n"), *add("x_other", "z")], 403, None),
    ("owner_member", replace("name", "n2"), 200,
     {"x_owner_a": "o", "x_any": "b", "x_empty": "e", "x_any2": "b"}),
    # Glance drops the properties the patching member could not read (x_other,
    # x_hidden) when it saves the image; glimpse keeps them
    ("admin", [], 200, {**ALL, "x_any": "b", "x_any2": "b"}),
    ("admin", remove("x_other"), 200,
     {"x_hidden": "h", "x_owner_a": "o", "x_any": "b", "x_empty": "e", "x_any2": "b"}),
    ("admin", replace("x_owner_a", "z"), 200,
     {"x_hidden": "h", "x_owner_a": "z", "x_any": "b", "x_empty": "e", "x_any2": "b"}),
]  # fmt: skip


async def walk(callers: Callers) -> None:
    client, owner = callers.client, callers.owner

    async def create(by: str, **props: str) -> httpx.Response:
        body = {"disk_format": "raw", "container_format": "bare", "owner": owner, **props}
        return await client.post("/v2/images", json=body, headers=callers[by])

    created = await create("owner_member", x_owner_a="1")
    assert (created.status_code, extras(created.json())) == (201, {"x_owner_a": "1"})
    created = await create("owner_member", x_hidden="1")  # may create, may not read
    assert (created.status_code, extras(created.json())) == (201, {})
    refused = await create("owner_member", x_other="1")  # only [.*] matches: admin
    assert refused.status_code == 403
    assert "Attribute 'x_other' is reserved." in refused.text

    created = await create("admin", **ALL)
    assert (created.status_code, extras(created.json())) == (201, ALL)
    image_id = created.json()["id"]
    path = f"/v2/images/{image_id}"
    seen = {
        "owner_member": {"x_owner_a": "o", "x_any": "a", "x_empty": "e"},
        "owner_reader": {"x_any": "a"},
    }
    for persona, expected in seen.items():
        shown = await client.get(path, headers=callers[persona])
        assert extras(shown.json()) == expected, persona

    for persona, ops, status, expected in WALK:
        if ops:
            answer = await client.patch(path, json=ops, headers={**callers[persona], **V21})
        else:
            answer = await client.get(path, headers=callers[persona])
        assert answer.status_code == status, (persona, ops, answer.text)
        if expected is not None:
            assert extras(answer.json()) == expected, (persona, ops)

    listed = await client.get("/v2/images?name=n2", headers=callers["owner_member"])
    assert [extras(image) for image in listed.json()["images"]] == [
        {"x_owner_a": "z", "x_any": "b", "x_empty": "e", "x_any2": "b"}
    ]


@pytest.fixture
def protection_files(tmp_path: Path) -> dict[str, dict[str, Any]]:
    roles = tmp_path / "roles.conf"
    roles.write_text(ROLES_FILE)
    policies = tmp_path / "policies.conf"
    policies.write_text(POLICIES_FILE)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_FILE)
    return {
        "roles": {"property_protection_file": roles},
        "policies": {
            "property_protection_file": policies,
            "property_protection_rule_format": "policies",
            "policy_file": policy,
        },
    }


@pytest.mark.parametrize("rule_format", ["roles", "policies"])
async def test_protections_with_builtin_tokens(
    make_client: Any,
    make_settings: Any,
    protection_files: dict[str, dict[str, Any]],
    rule_format: str,
) -> None:
    client = await make_client(auth_mode="builtin", **CHEAP_HASHES, **protection_files[rule_format])
    await create_accounts(make_settings().resolved_database_url)
    await walk(await builtin_callers(client))


async def test_without_a_file_nothing_is_protected(callers: Callers) -> None:
    body = {"disk_format": "raw", "container_format": "bare", "x_other": "1"}
    created = await callers.client.post("/v2/images", json=body, headers=callers["owner_member"])
    assert (created.status_code, extras(created.json())) == (201, {"x_other": "1"})


async def test_an_empty_file_protects_nothing(make_client: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.conf"
    empty.write_text("# no sections\n")
    client = await make_client(property_protection_file=empty)
    created = await client.post("/v2/images", json={"x_other": "1"})
    assert (created.status_code, extras(created.json())) == (201, {"x_other": "1"})


def test_protections_with_keystone_tokens(keystone: Keystone, tmp_path: Path) -> None:
    """A glimpse in Keystone mode with the roles file: Keystone's tokens carry the
    roles (with implied ones) the protections are decided by."""
    protections = tmp_path / "roles.conf"
    protections.write_text(ROLES_FILE)
    env = keystone.server_env(GLIMPSE_PROPERTY_PROTECTION_FILE=str(protections))
    member = {"X-Auth-Token": keystone.token("alpha-member")}
    reader = {"X-Auth-Token": keystone.token("alpha-reader")}
    admin = {"X-Auth-Token": keystone.token("admin")}
    (tmp_path / "data").mkdir()
    with (
        ServerProcess(tmp_path / "data", env=env) as server,
        httpx.Client(
            base_url=server.url, headers={"Accept": "application/json"}, timeout=30
        ) as client,
    ):
        body = {"disk_format": "raw", "container_format": "bare"}
        refused = client.post("/v2/images", json={**body, "x_other": "1"}, headers=member)
        assert refused.status_code == 403
        created = client.post(
            "/v2/images", json={**body, "x_hidden": "h", "x_owner_a": "o"}, headers=member
        )
        assert (created.status_code, extras(created.json())) == (201, {"x_owner_a": "o"})
        path = f"/v2/images/{created.json()['id']}"
        assert extras(client.get(path, headers=reader).json()) == {}
        assert extras(client.get(path, headers=admin).json()) == {
            "x_hidden": "h", "x_owner_a": "o"
        }  # fmt: skip
        patched = client.patch(
            path, content=json.dumps(replace("x_owner_a", "2")), headers={**member, **V21}
        )
        assert patched.status_code == 403
        patched = client.patch(
            path, content=json.dumps(replace("x_owner_a", "2")), headers={**admin, **V21}
        )
        assert (patched.status_code, extras(patched.json())) == (
            200, {"x_hidden": "h", "x_owner_a": "2"}
        )  # fmt: skip
