"""Who sees which images: Glance's visibility rules for listing and for single images."""

from __future__ import annotations

import httpx
import pytest

from tests.support.records import Records, admin, caller, list_ids

# name -> (owner, visibility); "B.shared.<status>" are shared with A at that member status
WORLD = {
    "A.private": ("A", "private"),
    "A.shared": ("A", "shared"),
    "A.public": ("A", "public"),
    "A.community": ("A", "community"),
    "B.private": ("B", "private"),
    "B.shared": ("B", "shared"),
    "B.shared.accepted": ("B", "shared"),
    "B.shared.pending": ("B", "shared"),
    "B.shared.rejected": ("B", "shared"),
    "B.public": ("B", "public"),
    "B.community": ("B", "community"),
    "nobody.shared": (None, "shared"),
    "nobody.private": (None, "private"),
}
ALL = set(WORLD)


@pytest.fixture
def world(records: Records) -> dict[str, str]:
    """Name -> id of every image of WORLD."""
    ids = {}
    for name, (owner, visibility) in WORLD.items():
        ids[name] = records.add_image(name=name, owner=owner, visibility=visibility).id
    for status in ("accepted", "pending", "rejected"):
        records.add_member(ids[f"B.shared.{status}"], "A", status)
    # a membership of somebody else changes nothing for A
    records.add_member(ids["B.shared"], "C", "accepted")
    return ids


async def listed(
    client: httpx.AsyncClient, world: dict[str, str], query: str, headers: dict[str, str]
) -> set[str]:
    names = {image_id: name for name, image_id in world.items()}
    return {names[image_id] for image_id in await list_ids(client, f"limit=100&{query}", headers)}


A_DEFAULT = {"A.private", "A.shared", "A.public", "A.community", "B.public", "B.shared.accepted"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # public, everything A owns (its community images included), shared with A
        ("", A_DEFAULT),
        ("visibility=public", {"A.public", "B.public"}),
        ("visibility=private", {"A.private"}),
        ("visibility=shared", {"A.shared", "B.shared.accepted"}),
        ("visibility=community", {"A.community", "B.community"}),
        ("visibility=all", A_DEFAULT | {"B.community"}),
        ("member_status=pending", A_DEFAULT - {"B.shared.accepted"} | {"B.shared.pending"}),
        ("member_status=rejected", A_DEFAULT - {"B.shared.accepted"} | {"B.shared.rejected"}),
        ("member_status=all", A_DEFAULT | {"B.shared.pending", "B.shared.rejected"}),
        ("visibility=shared&member_status=pending", {"A.shared", "B.shared.pending"}),
        ("visibility=shared&member_status=all",
         {"A.shared", "B.shared.accepted", "B.shared.pending", "B.shared.rejected"}),
        ("visibility=all&member_status=all",
         A_DEFAULT | {"B.community", "B.shared.pending", "B.shared.rejected"}),
        ("owner=B", {"B.public", "B.shared.accepted"}),
        ("owner=B&visibility=all", {"B.public", "B.shared.accepted", "B.community"}),
    ],
)  # fmt: skip
async def test_what_a_project_lists(
    client: httpx.AsyncClient, world: dict[str, str], query: str, expected: set[str]
) -> None:
    assert await listed(client, world, query, caller("A")) == expected


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        # an admin lists everything but other projects' community images ...
        (admin("A"), "", ALL - {"B.community"}),
        (admin("A"), "visibility=all", ALL),
        (admin("A"), "visibility=community", {"A.community", "B.community"}),
        (admin("A"), "visibility=shared", {n for n in ALL if WORLD[n][1] == "shared"}),
        (admin("A"), "visibility=private", {"A.private", "B.private", "nobody.private"}),
        # ... and member_status does not narrow what an admin sees
        (admin("A"), "member_status=pending", ALL - {"B.community"}),
        # noauth (admin, no project): no community image unless asked for
        ({}, "", ALL - {"A.community", "B.community"}),
        ({}, "visibility=all", ALL),
        # an ordinary caller with no project: public images only
        ({"X-Roles": "member,reader"}, "", {"A.public", "B.public"}),
        ({"X-Roles": "member,reader"}, "visibility=all",
         {"A.public", "B.public", "A.community", "B.community"}),
    ],
    ids=["admin", "admin-all", "admin-community", "admin-shared", "admin-private",
         "admin-member-status", "noauth", "noauth-all", "no-project", "no-project-all"],
)  # fmt: skip
async def test_what_others_list(
    client: httpx.AsyncClient,
    world: dict[str, str],
    headers: dict[str, str],
    query: str,
    expected: set[str],
) -> None:
    assert await listed(client, world, query, headers) == expected


@pytest.mark.parametrize("query", ["visibility=everyone", "member_status=maybe"])
async def test_bad_visibility_or_member_status_is_400(
    client: httpx.AsyncClient, query: str
) -> None:
    assert (await client.get(f"/v2/images?{query}", headers=caller("A"))).status_code == 400


# Who can read an image: owner-less, public and community images, one's own, and shared
# ones one is a member of (whatever the member status).
A_SEES = {
    "A.private", "A.shared", "A.public", "A.community", "B.public", "B.community",
    "B.shared.accepted", "B.shared.pending", "B.shared.rejected", "nobody.shared",
    "nobody.private",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(WORLD))
async def test_what_a_project_may_show(
    client: httpx.AsyncClient, world: dict[str, str], name: str
) -> None:
    response = await client.get(f"/v2/images/{world[name]}", headers=caller("A"))
    assert response.status_code == (200 if name in A_SEES else 404)
    # an admin sees every image
    assert (await client.get(f"/v2/images/{world[name]}", headers=admin("C"))).status_code == 200


@pytest.mark.parametrize("name", sorted(WORLD))
async def test_changes_need_ownership(
    client: httpx.AsyncClient, world: dict[str, str], name: str
) -> None:
    """Visible but not owned: 403; not visible: 404; one's own: allowed."""
    image_id = world[name]
    owned = WORLD[name][0] == "A"
    expected = (204 if owned else 403) if name in A_SEES else 404
    patch_status = 200 if expected == 204 else expected
    headers = caller("A")
    patch = await client.patch(
        f"/v2/images/{image_id}",
        json=[{"op": "add", "path": "/x", "value": "y"}],
        headers={**headers, "Content-Type": "application/openstack-images-v2.1-json-patch"},
    )
    assert patch.status_code == patch_status
    tag = await client.put(f"/v2/images/{image_id}/tags/t", headers=headers)
    assert tag.status_code == expected
    # queued images cannot be deactivated: the owner gets the status 403 too
    deactivate = await client.post(f"/v2/images/{image_id}/actions/deactivate", headers=headers)
    assert deactivate.status_code == (403 if expected == 204 else expected)
    delete = await client.delete(f"/v2/images/{image_id}", headers=headers)
    assert delete.status_code == expected


async def test_membership_of_another_project_grants_nothing(
    client: httpx.AsyncClient, world: dict[str, str]
) -> None:
    # B.shared is shared with C only
    assert (
        await client.get(f"/v2/images/{world['B.shared']}", headers=caller("A"))
    ).status_code == 404
    assert (
        await client.get(f"/v2/images/{world['B.shared']}", headers=caller("C"))
    ).status_code == 200
    assert await listed(client, world, "", caller("C")) == {"A.public", "B.public", "B.shared"}


async def test_tenant_header_names_the_project_too(
    client: httpx.AsyncClient, world: dict[str, str]
) -> None:
    headers = {"X-Tenant-Id": "A", "X-Roles": "member"}
    assert await listed(client, world, "", headers) == A_DEFAULT


async def test_shared_image_is_listed_once_accepted(
    client: httpx.AsyncClient, records: Records
) -> None:
    image = records.add_image(owner="B", visibility="shared")
    records.add_member(image.id, "A", "pending")
    # readable right away, listed by default only once accepted
    assert (await client.get(f"/v2/images/{image.id}", headers=caller("A"))).status_code == 200
    assert await list_ids(client, "", caller("A")) == []
    records.set_member_status(image.id, "A", "accepted")
    assert await list_ids(client, "", caller("A")) == [image.id]
