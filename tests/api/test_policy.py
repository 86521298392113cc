"""The authorisation matrix: every endpoint by every persona, on real tokens of the
built-in identity (so with Glance's secure-RBAC defaults). Each expected status code is
what Glance 33 answered with Keystone tokens of the same personas (admin, owner project
member and reader, a member and a reader of a project the image is shared with, a project
with no membership, a project whose only role no rule names), for an image of each
visibility; and what it answered without a token or with an expired one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.builtin_callers import CHEAP_HASHES, builtin_callers, create_accounts, token
from tests.support.personas import OCTETS, V21, Callers, header_callers, persona
from tests.support.records import Records

COLUMNS = ("admin", "owner_member", "owner_reader", "other_member", "shared_member",
           "shared_reader", "norole")  # fmt: skip


def row(codes: str) -> dict[str, int]:
    return dict(zip(COLUMNS, map(int, codes.split()), strict=True))


@pytest.fixture
async def token_callers(make_client: Any, make_settings: Any) -> Callers:
    """The personas as project-scoped tokens of glimpse's built-in identity."""
    client = await make_client(auth_mode="builtin", **CHEAP_HASHES)
    await create_accounts(make_settings().resolved_database_url)
    return await builtin_callers(client)


# name -> (method, path under the image, body, headers, status the image needs)
IMAGE_CALLS: dict[str, tuple[str, str, Any, dict[str, str], str]] = {
    "show": ("GET", "", None, {}, "active"),
    "patch": ("PATCH", "", [{"op": "add", "path": "/k", "value": "v"}], V21, "active"),
    "delete": ("DELETE", "", None, {}, "active"),
    "upload": ("PUT", "/file", b"data", OCTETS, "queued"),
    "download": ("GET", "/file", None, {}, "active"),
    "add_tag": ("PUT", "/tags/new", None, {}, "active"),
    "remove_tag": ("DELETE", "/tags/existing", None, {}, "active"),
    "deactivate": ("POST", "/actions/deactivate", None, {}, "active"),
    "reactivate": ("POST", "/actions/reactivate", None, {}, "deactivated"),
    "add_member": ("POST", "/members", {"member": "project-new"}, {}, "active"),
    "list_members": ("GET", "/members", None, {}, "active"),
    "show_member": ("GET", "/members/{shared}", None, {}, "active"),
    "update_member": ("PUT", "/members/{shared}", {"status": "accepted"}, {}, "active"),
    "delete_member": ("DELETE", "/members/{shared}", None, {}, "active"),
}

# Columns: admin, owner member, owner reader, other project's member, shared-with
# project's member and reader, a project with a role no rule names.
#                                admin own.m own.r other sh.m  sh.r norole
SHARED_IMAGE = {
    "show":          row("200   200   200   404   200   200   404"),
    "patch":         row("200   200   403   404   403   403   404"),
    "delete":        row("204   204   403   404   403   403   404"),
    "upload":        row("204   204   403   404   403   403   404"),
    "download":      row("200   200   403   404   200   403   404"),
    "add_tag":       row("204   204   403   404   403   403   404"),
    "remove_tag":    row("204   204   403   404   403   403   404"),
    "deactivate":    row("204   204   403   404   403   403   404"),
    "reactivate":    row("204   204   403   404   403   403   404"),
    "add_member":    row("200   200   403   404   403   403   404"),
    "list_members":  row("200   200   200   404   200   200   404"),
    "show_member":   row("200   200   200   404   200   200   404"),
    "update_member": row("200   403   403   404   200   403   404"),
    "delete_member": row("204   204   403   404   403   403   404"),
}  # fmt: skip
# A public or community image: everyone with a role reads it, only the owner changes it,
# and it has no members (403; 404 for a single member).
SEEN_BY_ALL = {
    "show":          row("200   200   200   200   200   200   404"),
    "patch":         row("200   200   403   403   403   403   404"),
    "delete":        row("204   204   403   403   403   403   404"),
    "upload":        row("204   204   403   403   403   403   404"),
    "download":      row("200   200   403   200   200   403   404"),
    "add_tag":       row("204   204   403   403   403   403   404"),
    "remove_tag":    row("204   204   403   403   403   403   404"),
    "deactivate":    row("204   204   403   403   403   403   404"),
    "reactivate":    row("204   204   403   403   403   403   404"),
    "add_member":    row("403   403   403   403   403   403   403"),
    "list_members":  row("403   403   403   403   403   403   403"),
    "show_member":   row("404   404   404   404   404   404   404"),
    "update_member": row("403   403   403   403   403   403   403"),
    "delete_member": row("403   403   403   403   403   403   403"),
}  # fmt: skip
# A private image, and a shared image made private again (its memberships stay but do
# not count): the owner project only.
PRIVATE = {
    "show":          row("200   200   200   404   404   404   404"),
    "patch":         row("200   200   403   404   404   404   404"),
    "delete":        row("204   204   403   404   404   404   404"),
    "upload":        row("204   204   403   404   404   404   404"),
    "download":      row("200   200   403   404   404   404   404"),
    "add_tag":       row("204   204   403   404   404   404   404"),
    "remove_tag":    row("204   204   403   404   404   404   404"),
    "deactivate":    row("204   204   403   404   404   404   404"),
    "reactivate":    row("204   204   403   404   404   404   404"),
    "add_member":    row("403   403   403   404   404   404   404"),
    "list_members":  row("403   403   403   404   404   404   404"),
    "show_member":   row("404   404   404   404   404   404   404"),
    "update_member": row("403   403   403   404   404   404   404"),
    "delete_member": row("403   403   403   404   404   404   404"),
}  # fmt: skip

# scenario -> (visibility the image is made with, the shared project's member status or
# None, visibility it is changed to afterwards or None, expected codes)
SCENARIOS: dict[str, tuple[str, str | None, str | None, dict[str, dict[str, int]]]] = {
    "shared-accepted": ("shared", "accepted", None, SHARED_IMAGE),
    "shared-pending": ("shared", "pending", None, SHARED_IMAGE),
    "shared-rejected": ("shared", "rejected", None, SHARED_IMAGE),
    "public": ("public", None, None, SEEN_BY_ALL),
    "community": ("community", None, None, SEEN_BY_ALL),
    "private": ("private", None, None, PRIVATE),
    "unshared": ("shared", "accepted", "private", PRIVATE),
}


async def subject(callers: Callers, scenario: str, status: str) -> str:
    visibility, member_status, then, _ = SCENARIOS[scenario]
    image_id = await callers.new_image(visibility=visibility, status=status)
    if member_status is not None:
        await callers.share(image_id, status=member_status)
    if then is not None:
        ops = [{"op": "replace", "path": "/visibility", "value": then}]
        response = await callers.patch(image_id, ops, "owner_member")
        assert response.status_code == 200, response.text
    return image_id


async def call(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> int:
    if isinstance(body, bytes):
        response = await client.request(method, path, content=body, headers=headers)
    elif body is not None:
        response = await client.request(method, path, json=body, headers=headers)
    else:
        response = await client.request(method, path, headers=headers)
    return response.status_code


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_image_endpoints(token_callers: Callers, scenario: str) -> None:
    """One scenario's whole table per test: the accounts and tokens are made once."""
    callers = token_callers
    got: dict[str, dict[str, int]] = {}
    for endpoint, (method, suffix, body, extra, status) in IMAGE_CALLS.items():
        suffix = suffix.format(shared=callers.shared)
        got[endpoint] = {}
        image_id = None
        for name in COLUMNS:
            # a refused call changes nothing, so the image serves until a call succeeds
            if image_id is None:
                image_id = await subject(callers, scenario, status)
            path = f"/v2/images/{image_id}{suffix}"
            headers = {**callers[name], **extra}
            got[endpoint][name] = await call(callers.client, method, path, body, headers)
            if method != "GET" and got[endpoint][name] < 300:
                image_id = None
    assert got == SCENARIOS[scenario][3]


#                                      admin own.m own.r other sh.m  sh.r norole
OTHER_CALLS: dict[str, tuple[str, str, Any, dict[str, int]]] = {
    "create": ("POST", "/v2/images", {},
               row("201   201   403   201   201   403   403")),
    "create-for-owner": ("POST", "/v2/images", {"owner": "{owner}"},
               row("201   201   403   403   403   403   403")),
    "create-public": ("POST", "/v2/images", {"visibility": "public"},
               row("201   403   403   403   403   403   403")),
    "create-community": ("POST", "/v2/images", {"visibility": "community"},
               row("201   201   403   201   201   403   403")),
    "list": ("GET", "/v2/images", None,
               row("200   200   200   200   200   200   403")),
    "schema-image": ("GET", "/v2/schemas/image", None,
               row("200   200   200   200   200   200   200")),
    "schema-members": ("GET", "/v2/schemas/members", None,
               row("200   200   200   200   200   200   200")),
    "info-import": ("GET", "/v2/info/import", None,
               row("200   200   200   200   200   200   200")),
    "versions": ("GET", "/versions", None,
               row("200   200   200   200   200   200   200")),
}  # fmt: skip


def other_call_body(callers: Callers, body: Any) -> Any:
    if isinstance(body, dict) and body.get("owner") == "{owner}":
        return {**body, "owner": callers.owner}
    return body


async def test_other_endpoints(token_callers: Callers) -> None:
    callers = token_callers
    got = {
        endpoint: {
            name: await call(callers.client, method, path, other_call_body(callers, body),
                             callers[name])
            for name in COLUMNS
        }
        for endpoint, (method, path, body, _) in OTHER_CALLS.items()
    }  # fmt: skip
    assert got == {endpoint: expected for endpoint, (*_, expected) in OTHER_CALLS.items()}


# ------------------------------------------------------- without a valid token


async def test_without_a_valid_token(token_callers: Callers, make_client: Any) -> None:
    """Glance answers 401 to every call without a token or with an expired one; only the
    versions document needs none. An expired token that was valid before is refused too
    (nothing remembered outlives the token)."""
    callers = token_callers
    short_lived = await make_client(auth_mode="builtin", token_expiration_seconds=1, **CHEAP_HASHES)
    expired, _ = await token(short_lived, "owner_member", "owner")
    image_id = await subject(callers, "shared-accepted", "active")
    image = f"/v2/images/{image_id}"
    valid = await short_lived.get(image, headers={"X-Auth-Token": expired})
    assert valid.status_code == 200
    await asyncio.sleep(1.1)
    calls = {
        name: (method, image + suffix.format(shared=callers.shared), body, extra)
        for name, (method, suffix, body, extra, _) in IMAGE_CALLS.items()
    }
    for name, (method, path, body, _) in OTHER_CALLS.items():
        calls[name] = (method, path, other_call_body(callers, body), {})
    for client, headers in ((callers.client, {}), (short_lived, {"X-Auth-Token": expired})):
        got = {
            name: await call(client, method, path, body, {**headers, **extra})
            for name, (method, path, body, extra) in calls.items()
        }
        assert got == {name: 200 if name == "versions" else 401 for name in calls}
    # nothing was changed by any of them
    shown = await callers.client.get(image, headers=callers["owner_member"])
    assert (shown.json()["status"], shown.json()["tags"]) == ("active", ["existing"])


# ------------------------------------------------------------- finer points


def replace(path: str, value: Any) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": path, "value": value}]


@pytest.mark.parametrize(
    ("path", "value", "caller", "expected"),
    [
        # publicize_image is admin-only; communitize_image is for the owner's members
        ("/visibility", "public", "owner_member", 403),
        ("/visibility", "public", "shared_member", 403),
        ("/visibility", "public", "admin", 200),
        ("/visibility", "community", "owner_member", 200),
        ("/visibility", "community", "owner_reader", 403),
        ("/visibility", "community", "shared_member", 403),
        # only an admin reassigns an image, even to its own owner
        ("/owner", "other", "owner_member", 403),
        ("/owner", "owner", "owner_member", 403),
        ("/owner", "other", "admin", 200),
        # no operation, no check beyond seeing the image
        (None, None, "owner_reader", 200),
        (None, None, "shared_reader", 200),
        (None, None, "other_member", 404),
        (None, None, "norole", 404),
    ],
)
async def test_patch_rules(
    callers: Callers, path: str | None, value: str | None, caller: str, expected: int
) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    if path == "/owner":
        assert value is not None
        value = callers.projects[value]
    ops = [] if path is None else replace(path, value)
    assert (await callers.patch(image_id, ops, caller)).status_code == expected


#              norole, owner reader, other project's member, on a public image
PATCHES_OF_PUBLIC = [
    ([], (200, 200, 200)),
    (replace("/owner", "someone"), (403, 403, 403)),
    (replace("/visibility", "public"), (403, 403, 403)),
    (replace("/visibility", "community"), (403, 403, 403)),
    # past the visibility rules, modify_image decides: 404 for who may not get_image
    (replace("/visibility", "private"), (404, 403, 403)),
    ([{"op": "add", "path": "/k", "value": "v"}], (404, 403, 403)),
    (replace("/nonexistent", "v"), (404, 403, 403)),
    (replace("/locations", []), (403, 403, 403)),
    ([{"op": "remove", "path": "/locations/0"}], (404, 403, 403)),
    ([{"op": "add", "path": "/k", "value": "v"}, *replace("/owner", "x")], (404, 403, 403)),
]


@pytest.mark.parametrize(("ops", "expected"), PATCHES_OF_PUBLIC)
async def test_patch_checks_each_operation_in_glances_order(
    callers: Callers, ops: list[dict[str, Any]], expected: tuple[int, int, int]
) -> None:
    """Glance checks an operation's own rules (owner, visibility, locations) before
    modify_image, and asks nothing for an empty patch: a caller without the reader role
    (who may not get_image) gets 403 or 200 from those, 404 from modify_image."""
    image_id = await callers.new_image(visibility="public")
    got = []
    for name in ("norole", "owner_reader", "other_member"):
        got.append((await callers.patch(image_id, ops, name)).status_code)
    assert tuple(got) == expected


async def test_an_admin_giving_an_image_away_takes_it_from_its_owner(callers: Callers) -> None:
    image_id = await callers.new_image(visibility="private")
    response = await callers.patch(image_id, replace("/owner", callers.other), "admin")
    assert response.status_code == 200
    for name, expected in (("owner_member", 404), ("other_member", 200)):
        shown = await callers.client.get(f"/v2/images/{image_id}", headers=callers[name])
        assert shown.status_code == expected


@pytest.mark.parametrize(
    ("owner", "visibility", "caller", "expected"),
    [
        ("other", None, "owner_member", 403),
        ("other", "public", "owner_member", 403),
        ("owner", None, "owner_reader", 403),
        ("other", None, "admin", 201),
        ("other", "public", "admin", 201),
    ],
)
async def test_create_owner_rules(
    callers: Callers, owner: str, visibility: str | None, caller: str, expected: int
) -> None:
    body = {"owner": callers.projects[owner]}
    if visibility is not None:
        body["visibility"] = visibility
    response = await callers.client.post("/v2/images", json=body, headers=callers[caller])
    assert response.status_code == expected
    if expected == 201:
        assert response.json()["owner"] == body["owner"]


@pytest.mark.parametrize("visibility", ["shared", "public"])
async def test_deactivated_data_is_for_admins_only(callers: Callers, visibility: str) -> None:
    """Glance refuses deactivated data before it asks any rule: 403 even for a caller
    without the reader role, who gets 404 from everything else."""
    image_id = await callers.new_image(visibility=visibility, status="deactivated")
    if visibility == "shared":
        await callers.share(image_id, status="accepted")
    got = {
        name: (
            await callers.client.get(f"/v2/images/{image_id}/file", headers=callers[name])
        ).status_code
        for name in COLUMNS
    }
    seen_by_all = visibility == "public"
    other, norole = (403, 403) if seen_by_all else (404, 404)
    assert got == {
        "admin": 200, "owner_member": 403, "owner_reader": 403, "other_member": other,
        "shared_member": 403, "shared_reader": 403, "norole": norole,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("action", "status", "caller", "expected"),
    [
        # the policy is asked before the status: a reader gets 403 either way
        ("deactivate", "deactivated", "owner_member", 204),
        ("deactivate", "deactivated", "owner_reader", 403),
        ("deactivate", "queued", "owner_member", 403),
        ("reactivate", "active", "owner_member", 204),
        ("reactivate", "queued", "owner_member", 403),
        ("reactivate", "active", "owner_reader", 403),
    ],
)
async def test_actions_in_other_statuses(
    callers: Callers, action: str, status: str, caller: str, expected: int
) -> None:
    image_id = await callers.new_image(status=status)
    response = await callers.client.post(
        f"/v2/images/{image_id}/actions/{action}", headers=callers[caller]
    )
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("action", "caller", "expected"),
    [
        # the owner's data-less image: 204 for a member, the policy refuses a reader
        ("download-queued", "owner_member", 204),
        ("download-queued", "owner_reader", 403),
        ("upload-active", "owner_member", 409),
        ("upload-active", "owner_reader", 403),
        ("remove-missing-tag", "owner_member", 404),
        ("remove-missing-tag", "owner_reader", 403),
        # a bad tag is refused before anything else
        ("add-long-tag", "owner_reader", 400),
        ("delete-protected", "owner_member", 403),
        ("delete-protected", "owner_reader", 403),
    ],
)
async def test_policy_comes_before_the_image_state(
    callers: Callers, action: str, caller: str, expected: int
) -> None:
    client, headers = callers.client, callers[caller]
    image_id = await callers.new_image(status="queued" if action == "download-queued" else "active")
    base = f"/v2/images/{image_id}"
    if action == "download-queued":
        response = await client.get(f"{base}/file", headers=headers)
    elif action == "upload-active":
        response = await client.put(f"{base}/file", content=b"x", headers={**headers, **OCTETS})
    elif action == "remove-missing-tag":
        response = await client.delete(f"{base}/tags/missing", headers=headers)
    elif action == "add-long-tag":
        response = await client.put(f"{base}/tags/{'t' * 256}", headers=headers)
    else:
        protect = await callers.patch(image_id, replace("/protected", True), "owner_member")
        assert protect.status_code == 200
        response = await client.delete(base, headers=headers)
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # get_images is asked before the marker is looked up, after the query is parsed
        ("marker=00000000-0000-4000-8000-000000000000", 403),
        ("visibility=bogus", 400),
    ],
)
async def test_a_caller_without_reader_cannot_list(
    callers: Callers, query: str, expected: int
) -> None:
    response = await callers.client.get(f"/v2/images?{query}", headers=callers["norole"])
    assert response.status_code == expected


async def test_a_reader_sees_what_its_project_sees(callers: Callers) -> None:
    private = await callers.new_image(visibility="private")
    shared = await callers.new_image()
    await callers.share(shared, status="accepted")
    for name, expected in (("owner_reader", {private, shared}), ("shared_reader", {shared})):
        listed = await callers.client.get("/v2/images", headers=callers[name])
        assert {i["id"] for i in listed.json()["images"]} == expected


async def test_lists_hold_each_image_to_get_image(make_client: Any, tmp_path: Path) -> None:
    """An operator's get_image narrower than what the database shows (here: own project
    only) hides images from lists too, as in Glance; a page the database filled still
    has a next link, after the last image kept."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        '"get_image": "rule:context_is_admin or (role:reader and project_id:%(project_id)s)"\n'
    )
    client = await make_client(enforce_new_defaults=True, policy_file=policy)
    callers = header_callers(client)
    public = await callers.new_image(visibility="public")
    shared = await callers.new_image()
    await callers.share(shared)  # pending: accepting it needs get_image
    created = await client.post("/v2/images", json={}, headers=callers["other_member"])
    own = created.json()["id"]

    async def page(name: str, query: str = "") -> tuple[list[str], bool]:
        body = (await client.get(f"/v2/images?{query}", headers=callers[name])).json()
        return [image["id"] for image in body["images"]], "next" in body

    assert await page("other_member") == ([own], False)
    assert await page("other_member", "limit=1") == ([own], True)
    assert await page("other_member", "limit=2") == ([own], True)
    assert await page("shared_member", "member_status=all") == ([], False)
    assert await page("owner_member") == ([shared, public], False)
    shown = await client.get(f"/v2/images/{public}", headers=callers["other_member"])
    assert shown.status_code == 404


async def test_decisions_are_remembered_per_caller(rbac: httpx.AsyncClient) -> None:
    """One user, three role sets, then another project, asked in turn: each keeps its
    own answer (noauth headers: one user with several role sets at once)."""
    callers = header_callers(rbac)
    image_id = await callers.new_image()
    user = {"X-User-Id": "one-user"}
    reader = {**persona(callers.owner, "reader"), **user}
    member = {**persona(callers.owner, "member,reader"), **user}
    admin = {**persona(callers.owner, "admin,member,reader"), **user}
    for _ in range(2):
        for headers, expected in ((reader, 403), (member, 204), (admin, 204)):
            response = await rbac.put(f"/v2/images/{image_id}/tags/t", headers=headers)
            assert response.status_code == expected
    # the same user in another project: the answer for that project, not a remembered one
    other_image = await callers.new_image(visibility="community")
    elsewhere = {**member, "X-Project-Id": callers.other}
    response = await rbac.put(f"/v2/images/{other_image}/tags/t", headers=elsewhere)
    assert response.status_code == 403
    response = await rbac.put(f"/v2/images/{other_image}/tags/t", headers=member)
    assert response.status_code == 204


@pytest.mark.parametrize("new_defaults", [False, True])
async def test_an_image_without_owner_belongs_to_no_caller(
    make_client: Any, records: Records, new_defaults: bool
) -> None:
    """Glance's database layer lets only an admin change an owner-less image, even for
    a caller without a project (possible with noauth headers only), which the policy's
    ``project_id:%(project_id)s`` would let through (None matches None)."""
    client = await make_client(enforce_new_defaults=new_defaults)
    image_id = records.add_image(owner=None, visibility="public").id
    projectless = {"X-User-Id": "someone", "X-Roles": "member,reader"}
    path = f"/v2/images/{image_id}"
    assert (await client.get(path, headers=projectless)).status_code == 200
    ops = replace("/name", "mine")
    assert (await client.patch(path, json=ops, headers={**projectless, **V21})).status_code == 403
    assert (await client.put(f"{path}/tags/t", headers=projectless)).status_code == 403
    assert (await client.delete(path, headers=projectless)).status_code == 403
    admin = header_callers(client)["admin"]
    assert (await client.delete(path, headers=admin)).status_code == 204
