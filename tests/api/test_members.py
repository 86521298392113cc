"""``/v2/images/{id}/members``: Glance's sharing rules, each checked against Glance 33
with Keystone and the secure-RBAC defaults (``callers``: personas on an app with those
defaults), and the legacy rules of the unauthenticated mode (``client``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.personas import Callers, header_callers, members_path
from tests.support.records import Records, list_ids

MEMBER_KEYS = ["member_id", "image_id", "status", "created_at", "updated_at", "schema"]
UNKNOWN_IMAGE = "00000000-0000-4000-8000-000000000000"
LONG_AGO = datetime(2020, 1, 2, 3, 4, 5)


# ------------------------------------------------------------------------ create


async def test_adding_a_member_answers_200_with_a_pending_member(callers: Callers) -> None:
    image_id = await callers.new_image()
    response = await callers.client.post(
        members_path(image_id), json={"member": callers.shared}, headers=callers["owner_member"]
    )
    assert response.status_code == 200
    member = response.json()
    assert list(member) == MEMBER_KEYS
    assert member["member_id"] == callers.shared
    assert member["image_id"] == image_id
    assert member["status"] == "pending"
    assert member["schema"] == "/v2/schemas/member"
    assert member["created_at"] == member["updated_at"]
    assert member["created_at"].endswith("Z") and len(member["created_at"]) == 20
    shown = await callers.client.get(
        members_path(image_id, callers.shared), headers=callers["owner_member"]
    )
    assert shown.json() == member


@pytest.mark.parametrize(
    ("content", "body"),
    [
        (None, None),  # no body at all
        (b"{", None),  # malformed JSON
        (None, ["member"]),
        (None, "member"),
        (None, {}),
        (None, {"members": "project"}),
        (None, {"member": ""}),
        (None, {"member": None}),
        # Glance answers 200 with a number as member_id and 500 for a list; glimpse
        # takes only strings
        (None, {"member": 12345}),
        (None, {"member": ["a"]}),
        # Glance on SQLite stores longer ids, on PostgreSQL it fails; glimpse says 400
        (None, {"member": "p" * 256}),
    ],
    ids=["no-body", "malformed", "list", "string", "empty-object", "no-member-key",
         "empty-member", "null-member", "number", "list-member", "too-long"],
)  # fmt: skip
async def test_bad_create_bodies_are_400_before_the_image_is_looked_up(
    callers: Callers, content: bytes | None, body: Any
) -> None:
    image_id = await callers.new_image()
    owner = callers["owner_member"]
    for target in (image_id, UNKNOWN_IMAGE):
        if body is None:
            headers = {**owner, "Content-Type": "application/json"}
            response = await callers.client.post(
                members_path(target), content=content, headers=headers
            )
        else:
            response = await callers.client.post(members_path(target), json=body, headers=owner)
        assert response.status_code == 400, response.text
    listed = await callers.client.get(members_path(image_id), headers=owner)
    assert listed.json()["members"] == []


async def test_member_ids_of_255_characters_and_extra_keys_are_accepted(
    callers: Callers,
) -> None:
    image_id = await callers.new_image()
    for member_id in ("m" * 255, "ünïcode-project"):
        response = await callers.client.post(
            members_path(image_id),
            json={"member": member_id, "status": "accepted", "x": 1},
            headers=callers["owner_member"],
        )
        assert response.status_code == 200
        assert response.json()["member_id"] == member_id
        assert response.json()["status"] == "pending"  # the body cannot choose it


@pytest.mark.parametrize("visibility", ["private", "public", "community"])
async def test_only_shared_images_have_members(callers: Callers, visibility: str) -> None:
    image_id = await callers.new_image(visibility=visibility)
    for name in ("owner_member", "admin"):
        response = await callers.client.post(
            members_path(image_id), json={"member": callers.shared}, headers=callers[name]
        )
        assert response.status_code == 403
        assert "Only shared images have members" in response.text


async def test_a_project_is_a_member_once(callers: Callers) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    for name in ("owner_member", "admin"):
        response = await callers.client.post(
            members_path(image_id), json={"member": callers.shared}, headers=callers[name]
        )
        assert response.status_code == 409
    # the existing membership is untouched
    shown = await callers.client.get(
        members_path(image_id, callers.shared), headers=callers["owner_member"]
    )
    assert shown.json()["status"] == "accepted"


async def test_the_owner_may_share_with_its_own_project(callers: Callers) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id, callers.owner)
    # ... but as the owner it cannot accept: modify_member is for the member
    response = await callers.client.put(
        members_path(image_id, callers.owner),
        json={"status": "accepted"},
        headers=callers["owner_member"],
    )
    assert response.status_code == 403


async def test_no_members_on_unknown_or_deleted_images(callers: Callers) -> None:
    client, owner = callers.client, callers["owner_member"]
    image_id = await callers.new_image()
    await callers.share(image_id)
    assert (await client.delete(f"/v2/images/{image_id}", headers=owner)).status_code == 204
    for target in (image_id, UNKNOWN_IMAGE):
        member = members_path(target, callers.shared)
        calls = [
            client.post(members_path(target), json={"member": callers.other}, headers=owner),
            client.get(members_path(target), headers=owner),
            client.get(member, headers=owner),
            client.put(member, json={"status": "accepted"}, headers=callers["shared_member"]),
            client.delete(member, headers=owner),
        ]
        for call in calls:
            assert (await call).status_code == 404


# ------------------------------------------------------------------------- quota


@pytest.mark.parametrize("quota", [0, 2])
async def test_member_quota_is_413_and_counted_before_duplicates(
    make_client: Any, quota: int
) -> None:
    callers = header_callers(await make_client(enforce_new_defaults=True, image_member_quota=quota))
    client, owner = callers.client, callers["owner_member"]
    image_id = await callers.new_image()
    for n in range(quota):
        await callers.share(image_id, f"project-{n}")
    over = await client.post(
        members_path(image_id), json={"member": "one-more"}, headers=callers["admin"]
    )
    assert over.status_code == 413
    if quota:
        # Glance counts first: a duplicate at the limit is 413 too, not 409
        duplicate = await client.post(
            members_path(image_id), json={"member": "project-0"}, headers=owner
        )
        assert duplicate.status_code == 413
        # a removed member makes room again
        gone = await client.delete(members_path(image_id, "project-0"), headers=owner)
        assert gone.status_code == 204
        await callers.share(image_id, "one-more")


async def test_a_negative_member_quota_is_unlimited(make_client: Any) -> None:
    callers = header_callers(await make_client(enforce_new_defaults=True, image_member_quota=-1))
    image_id = await callers.new_image()
    for n in range(5):
        await callers.share(image_id, f"project-{n}")
    listed = await callers.client.get(members_path(image_id), headers=callers["owner_member"])
    assert len(listed.json()["members"]) == 5


async def test_concurrent_adds_keep_the_rules(make_client: Any) -> None:
    """Many adds at once: one project is added once (the others 409), and the quota is
    never passed (the others 413)."""
    callers = header_callers(await make_client(enforce_new_defaults=True, image_member_quota=3))
    client, owner = callers.client, callers["owner_member"]

    async def add(image_id: str, project: str) -> int:
        response = await client.post(
            members_path(image_id), json={"member": project}, headers=owner
        )
        return response.status_code

    image_id = await callers.new_image()
    same = await asyncio.gather(*(add(image_id, "project-x") for _ in range(6)))
    assert sorted(same) == [200, 409, 409, 409, 409, 409]
    image_id = await callers.new_image()
    distinct = await asyncio.gather(*(add(image_id, f"project-{n}") for n in range(6)))
    assert sorted(distinct) == [200, 200, 200, 413, 413, 413]
    listed = await client.get(members_path(image_id), headers=owner)
    assert len(listed.json()["members"]) == 3


# ------------------------------------------------------------------- list, show


async def test_the_owner_and_admins_list_every_member_a_member_only_itself(
    callers: Callers,
) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    await callers.share(image_id, "project-x", "rejected")
    everyone = {callers.shared, "project-x"}
    expected = {
        "admin": everyone,
        "owner_member": everyone,
        "owner_reader": everyone,
        "shared_member": {callers.shared},
        "shared_reader": {callers.shared},
    }
    for name, members in expected.items():
        response = await callers.client.get(members_path(image_id), headers=callers[name])
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["members", "schema"]
        assert body["schema"] == "/v2/schemas/members"
        assert {m["member_id"] for m in body["members"]} == members, name
        assert all(list(m) == MEMBER_KEYS for m in body["members"])


async def test_a_member_cannot_see_other_memberships(callers: Callers) -> None:
    """Glance's database layer hides other projects' memberships from a member: 404,
    whatever it tries."""
    client, member = callers.client, callers["shared_member"]
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    await callers.share(image_id, callers.other, "pending")
    target = members_path(image_id, callers.other)
    assert (await client.get(target, headers=member)).status_code == 404
    put = await client.put(target, json={"status": "rejected"}, headers=member)
    assert put.status_code == 404
    assert (await client.delete(target, headers=member)).status_code == 404
    shown = await client.get(target, headers=callers["owner_member"])
    assert shown.json()["status"] == "pending"


async def test_unknown_members_are_404(callers: Callers) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id)
    target = members_path(image_id, "nobody")
    for name in ("admin", "owner_member", "owner_reader"):
        headers = callers[name]
        assert (await callers.client.get(target, headers=headers)).status_code == 404
        put = await callers.client.put(target, json={"status": "accepted"}, headers=headers)
        assert put.status_code == 404
        # Glance looks the member up before it asks delete_member: 404 even for a reader
        assert (await callers.client.delete(target, headers=headers)).status_code == 404


@pytest.mark.parametrize(("method", "of_member"), [("GET", False), ("GET", True), ("DELETE", True)])
async def test_bodies_are_refused_where_none_is_taken(
    callers: Callers, method: str, of_member: bool
) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id)
    path = members_path(image_id, callers.shared if of_member else None)
    response = await callers.client.request(
        method, path, json={"a": 1}, headers=callers["owner_member"]
    )
    assert response.status_code == 400


# ------------------------------------------------------------------------ update


@pytest.mark.parametrize("status", ["accepted", "rejected", "pending"])
async def test_the_member_sets_its_status(callers: Callers, records: Records, status: str) -> None:
    image_id = await callers.new_image()
    first = "accepted" if status == "pending" else "pending"
    created = await callers.share(image_id, status=first)
    records.set_member_times(image_id, callers.shared, LONG_AGO)
    updated = await callers.set_status(image_id, callers.shared, status)
    assert list(updated) == MEMBER_KEYS
    assert updated["status"] == status
    assert updated["created_at"] == "2020-01-02T03:04:05Z"
    assert updated["updated_at"] > "2020-01-02T03:04:05Z"
    assert updated["member_id"] == created["member_id"]
    shown = await callers.client.get(
        members_path(image_id, callers.shared), headers=callers["owner_member"]
    )
    assert shown.json() == updated


async def test_setting_the_same_status_changes_nothing(callers: Callers, records: Records) -> None:
    """Glance saves nothing then, so updated_at stays."""
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    records.set_member_times(image_id, callers.shared, LONG_AGO)
    updated = await callers.set_status(image_id, callers.shared, "accepted")
    assert updated["updated_at"] == "2020-01-02T03:04:05Z"


@pytest.mark.parametrize(
    ("body", "caller", "expected"),
    [
        # the body's shape is checked first, for anyone
        ({}, "shared_member", 400),
        ({}, "owner_member", 400),
        (["status"], "shared_member", 400),
        ("accepted", "shared_member", 400),
        # the value only after the policy: the owner is refused whatever it sends
        ({"status": "maybe"}, "shared_member", 400),
        ({"status": None}, "shared_member", 400),
        ({"status": 1}, "shared_member", 400),
        ({"status": "maybe"}, "owner_member", 403),
        ({"status": "maybe"}, "admin", 400),
        ({"status": "accepted"}, "owner_member", 403),
        ({"status": "accepted"}, "owner_reader", 403),
        ({"status": "accepted"}, "shared_reader", 403),
        ({"status": "accepted"}, "other_member", 404),
        ({"status": "accepted"}, "admin", 200),
        ({"status": "accepted"}, "shared_member", 200),
    ],
)
async def test_who_may_update_a_membership(
    callers: Callers, body: Any, caller: str, expected: int
) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id)
    target = members_path(image_id, callers.shared)
    response = await callers.client.put(target, json=body, headers=callers[caller])
    assert response.status_code == expected, response.text
    shown = await callers.client.get(target, headers=callers["owner_member"])
    assert shown.json()["status"] == ("accepted" if expected == 200 else "pending")


async def test_a_missing_status_is_400_even_for_an_unknown_image(callers: Callers) -> None:
    response = await callers.client.put(
        members_path(UNKNOWN_IMAGE, callers.shared),
        json={"x": 1},
        headers=callers["shared_member"],
    )
    assert response.status_code == 400
    assert "Status not specified" in response.text


# ------------------------------------------------------------------------ delete


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("owner_member", 204), ("admin", 204), ("owner_reader", 403), ("shared_member", 403),
     ("shared_reader", 403), ("other_member", 404), ("norole", 404)],
)  # fmt: skip
async def test_who_may_remove_a_member(callers: Callers, caller: str, expected: int) -> None:
    client = callers.client
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    target = members_path(image_id, callers.shared)
    assert (await client.delete(target, headers=callers[caller])).status_code == expected
    still_there = (await client.get(target, headers=callers["owner_member"])).status_code
    assert still_there == (404 if expected == 204 else 200)
    # a removed member loses the image at once
    seen = await client.get(f"/v2/images/{image_id}", headers=callers["shared_member"])
    assert seen.status_code == (404 if expected == 204 else 200)


async def test_a_removed_member_can_be_added_again_as_pending(callers: Callers) -> None:
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")
    gone = await callers.client.delete(
        members_path(image_id, callers.shared), headers=callers["owner_member"]
    )
    assert gone.status_code == 204
    again = await callers.share(image_id)
    assert again["status"] == "pending"


# ---------------------------------------------------------- who is asking


async def test_a_member_project_without_reader_sees_nothing(callers: Callers) -> None:
    """get_image needs the reader role: a member project whose caller lacks it gets 404
    from every member call, as if the image did not exist."""
    client, norole = callers.client, callers["norole"]
    image_id = await callers.new_image()
    await callers.share(image_id, callers.projects["norole"])
    mine = members_path(image_id, callers.projects["norole"])
    calls = [
        client.get(f"/v2/images/{image_id}", headers=norole),
        client.get(members_path(image_id), headers=norole),
        client.get(mine, headers=norole),
        client.put(mine, json={"status": "accepted"}, headers=norole),
        client.put(mine, json={"status": "bad"}, headers=norole),
        client.delete(mine, headers=norole),
        client.post(members_path(image_id), json={"member": "x"}, headers=norole),
    ]
    for call in calls:
        assert (await call).status_code == 404


async def test_members_of_an_image_without_owner(callers: Callers) -> None:
    """Every project may read an owner-less shared image and list its members (it sees
    only its own membership); only an admin changes them."""
    client, other = callers.client, callers["other_member"]
    response = await client.post(
        "/v2/images", json={"owner": None, "visibility": "shared"}, headers=callers["admin"]
    )
    assert response.status_code == 201
    image_id = response.json()["id"]
    listed = await client.get(members_path(image_id), headers=other)
    assert (listed.status_code, listed.json()["members"]) == (200, [])
    added = await client.post(members_path(image_id), json={"member": callers.other}, headers=other)
    assert added.status_code == 403
    await callers.share(image_id, callers.other, by="admin")
    await callers.share(image_id, callers.shared, by="admin")
    listed = await client.get(members_path(image_id), headers=other)
    assert [m["member_id"] for m in listed.json()["members"]] == [callers.other]
    everyone = await client.get(members_path(image_id), headers=callers["admin"])
    assert {m["member_id"] for m in everyone.json()["members"]} == {callers.other, callers.shared}


# ------------------------------------------------------------------ sharing flow


async def test_sharing_flow(callers: Callers) -> None:
    """Shared: readable at once, listed only once accepted; rejected: unlisted but still
    readable by id; the member_status filter reaches the others."""
    client, member = callers.client, callers["shared_member"]
    image_id = await callers.new_image()
    await callers.share(image_id)

    async def readable() -> bool:
        shown = await client.get(f"/v2/images/{image_id}", headers=member)
        data = await client.get(f"/v2/images/{image_id}/file", headers=member)
        assert shown.status_code == data.status_code
        return shown.status_code == 200

    async def listed(query: str = "", headers: dict[str, str] = member) -> bool:
        return image_id in await list_ids(client, query, headers)

    assert await readable()
    assert not await listed()
    assert await listed("member_status=pending")
    assert await listed("member_status=all")
    assert await listed("visibility=shared&member_status=pending")

    await callers.set_status(image_id, callers.shared, "accepted")
    assert await listed()
    assert await listed("visibility=shared")
    assert not await listed("member_status=pending")
    assert not await listed("member_status=rejected")

    await callers.set_status(image_id, callers.shared, "rejected")
    assert not await listed()
    assert await readable()
    assert await listed("member_status=rejected")
    assert await listed("member_status=all")

    # the owner lists its own image whatever member_status says
    for query in ("", "member_status=pending", "member_status=rejected"):
        assert await listed(query, callers["owner_member"])
    # and nobody else sees it
    other = callers["other_member"]
    assert (await client.get(f"/v2/images/{image_id}", headers=other)).status_code == 404
    assert not await listed("member_status=all", other)


async def test_memberships_hold_only_while_the_image_is_shared(callers: Callers) -> None:
    """Glance keeps the memberships when the visibility changes; they count again once
    the image is shared again, with the status they had."""
    client, owner, member = callers.client, callers["owner_member"], callers["shared_member"]
    image_id = await callers.new_image()
    await callers.share(image_id, status="accepted")

    async def make(visibility: str) -> None:
        ops = [{"op": "replace", "path": "/visibility", "value": visibility}]
        assert (await callers.patch(image_id, ops, "owner_member")).status_code == 200

    for visibility in ("private", "community"):
        await make(visibility)
        seen = await client.get(f"/v2/images/{image_id}", headers=member)
        assert seen.status_code == (404 if visibility == "private" else 200)
        assert image_id not in await list_ids(client, "member_status=all", member)
        assert (await client.get(members_path(image_id), headers=owner)).status_code == 403
        shown = await client.get(members_path(image_id, callers.shared), headers=owner)
        assert shown.status_code == 404
    await make("shared")
    assert (await client.get(f"/v2/images/{image_id}", headers=member)).status_code == 200
    assert image_id in await list_ids(client, "", member)
    shown = await client.get(members_path(image_id, callers.shared), headers=owner)
    assert shown.json()["status"] == "accepted"


# ------------------------------------------------------------ legacy defaults


async def test_legacy_rules_keep_glances_owner_checks(client: httpx.AsyncClient) -> None:
    """Without the secure-RBAC defaults (the unauthenticated mode) every member rule is
    open, and Glance's hard-coded checks decide: only the owner adds and removes members,
    the owner may not set a member's status."""
    callers = header_callers(client)
    image_id = await callers.new_image()
    await callers.share(image_id)
    await callers.share(image_id, callers.other)  # other is a member: it sees the image
    stranger = callers["other_member"]
    add = await client.post(members_path(image_id), json={"member": "x"}, headers=stranger)
    assert add.status_code == 403
    remove = await client.delete(members_path(image_id, callers.shared), headers=stranger)
    assert remove.status_code == 403
    own_status = await client.put(
        members_path(image_id, callers.shared),
        json={"status": "accepted"},
        headers=callers["owner_member"],
    )
    assert own_status.status_code == 403
    # a reader is enough here, for the owner's changes and for the member's own status
    reader = callers["owner_reader"]
    added = await client.post(members_path(image_id), json={"member": "y"}, headers=reader)
    assert added.status_code == 200
    assert (await client.delete(members_path(image_id, "y"), headers=reader)).status_code == 204
    accepted = await client.put(
        members_path(image_id, callers.shared),
        json={"status": "accepted"},
        headers=callers["shared_reader"],
    )
    assert accepted.status_code == 200
    # the unauthenticated context is an admin
    assert (await client.delete(members_path(image_id, callers.other))).status_code == 204
