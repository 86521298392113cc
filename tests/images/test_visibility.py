"""glimpse.images.visibility: who can see an image (``can_see``, Glance's rule), and that
the list's SQL (``listable``, with ``visibility=all`` and ``member_status=all``) lists
exactly what ``can_see`` shows, but for owner-less images (see below)."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from glimpse.db.engine import Database, UnitsOfWork
from glimpse.images.member_repository import MemberRepository
from glimpse.images.repository import ImageRepository
from glimpse.images.visibility import can_see
from glimpse.model.context import Viewer
from glimpse.model.images import Image, Member
from glimpse.model.listing import ImageQuery
from tests.support.units import new_image

VISIBILITIES = ["public", "community", "private", "shared"]

# viewers by name: (project, is_admin)
OWNER = Viewer("owner", False)
MEMBER = Viewer("member", False)
STRANGER = Viewer("stranger", False)
NO_PROJECT = Viewer(None, False)
ADMIN = Viewer("stranger", True)
ADMIN_NO_PROJECT = Viewer(None, True)


# (image owner, visibility, viewer, is the viewer's project a member, can see)
TRUTH = [
    # admins see everything
    *[("owner", vis, ADMIN, False, True) for vis in VISIBILITIES],
    *[("owner", vis, ADMIN_NO_PROJECT, False, True) for vis in VISIBILITIES],
    # the owner sees its own images
    *[("owner", vis, OWNER, False, True) for vis in VISIBILITIES],
    # public and community: everyone, even without a project
    *[("owner", vis, who, False, True) for vis in ("public", "community")
      for who in (STRANGER, NO_PROJECT, MEMBER)],
    # private: nobody else, members included
    ("owner", "private", STRANGER, False, False),
    ("owner", "private", MEMBER, True, False),
    ("owner", "private", NO_PROJECT, False, False),
    # shared: members only
    ("owner", "shared", MEMBER, True, True),
    ("owner", "shared", STRANGER, False, False),
    ("owner", "shared", NO_PROJECT, True, False),  # no project: no membership counts
    # an image without an owner is everyone's (Glance's database layer)
    *[(None, vis, who, False, True) for vis in VISIBILITIES
      for who in (STRANGER, NO_PROJECT, ADMIN)],
]  # fmt: skip


@pytest.mark.parametrize(
    ("owner", "visibility", "viewer", "member", "expected"),
    TRUTH,
    ids=[
        f"{owner}-{vis}-{viewer.project}{'-admin' if viewer.is_admin else ''}"
        f"{'-member' if member else ''}"
        for owner, vis, viewer, member, _ in TRUTH
    ],
)
def test_can_see(
    owner: str | None, visibility: str, viewer: Viewer, member: bool, expected: bool
) -> None:
    image = new_image(owner=owner, visibility=visibility)
    assert can_see(image, viewer, is_member=lambda: member) is expected


@pytest.mark.parametrize(
    ("owner", "visibility", "viewer", "asked"),
    [
        ("owner", "shared", STRANGER, True),
        ("owner", "shared", OWNER, False),
        ("owner", "private", STRANGER, False),
        ("owner", "public", STRANGER, False),
        ("owner", "shared", ADMIN, False),
        ("owner", "shared", NO_PROJECT, False),
        (None, "shared", STRANGER, False),
    ],
)
def test_membership_is_asked_only_for_anothers_shared_image(
    owner: str | None, visibility: str, viewer: Viewer, asked: bool
) -> None:
    """A membership is a database read: asked for only when it decides."""
    calls: list[str] = []

    def is_member() -> bool:
        calls.append("asked")
        return True

    can_see(new_image(owner=owner, visibility=visibility), viewer, is_member=is_member)
    assert bool(calls) is asked


# ------------------------------------------------------- the list agrees


LIST_VIEWERS = [
    Viewer("p1", False),
    Viewer("p2", False),
    Viewer("p3", False),
    Viewer("p4", False),
    Viewer(None, False),
    Viewer("p1", True),
    Viewer(None, True),
]
EVERYTHING = ImageQuery(limit=1000, visibility="all", member_status="all")


@pytest.fixture
async def catalogue(db: Database) -> list[Image]:
    """Every visibility for owners p1, p2 and none; memberships of every status, on
    shared and private images (a membership of a private image grants nothing)."""
    made = [
        new_image(owner=owner, visibility=vis, name=f"{owner}-{vis}", status="active")
        for owner, vis in itertools.product(["p1", "p2", None], VISIBILITIES)
    ]
    by_name = {image.name: image for image in made}
    memberships = [
        ("p1-shared", "p3", "accepted"),
        ("p2-shared", "p3", "pending"),
        ("p2-shared", "p1", "rejected"),
        ("p2-private", "p3", "accepted"),
        ("None-shared", "p3", "accepted"),
        ("None-private", "p4", "accepted"),
    ]

    def add(repo: ImageRepository) -> None:
        for image in made:
            repo.add_image(image)
        members = MemberRepository(repo.conn)
        for name, project, status in memberships:
            members.add_member(Member(by_name[name].id, project, status))

    await UnitsOfWork(db, ImageRepository).write(add)
    return made


@pytest.mark.parametrize(
    "viewer", LIST_VIEWERS, ids=lambda v: f"{v.project}{'-admin' if v.is_admin else ''}"
)
async def test_the_list_shows_what_can_be_seen(
    db: Database, catalogue: list[Image], viewer: Viewer
) -> None:
    """With ``visibility=all`` and ``member_status=all`` a caller lists the images it can
    see, with one exception: an image without an owner, which ``can_see`` shows to
    everyone, is listed like an image of a project nobody belongs to — to everyone when
    public or community, to admins always, to members when shared, else to nobody else.
    (Glance's list has no special case for owner-less images either.)"""

    def compare(repo: ImageRepository) -> tuple[set[str | None], set[str | None]]:
        listed = {image.name for image in repo.list_images(EVERYTHING, viewer, None)}
        expected = {
            image.name
            for image in catalogue
            if repo.can_see(
                image if image.owner else dataclasses.replace(image, owner="nobody's"), viewer
            )
        }
        return listed, expected

    listed, expected = await UnitsOfWork(db, ImageRepository).read(compare)
    assert listed == expected


async def test_owner_less_images_are_seen_by_all_but_listed_like_anyones(
    db: Database, catalogue: list[Image]
) -> None:
    """The exception, spelled out: what a non-admin may show but does not list."""
    images = UnitsOfWork(db, ImageRepository)

    def shown_not_listed(repo: ImageRepository, viewer: Viewer) -> set[str | None]:
        listed = {image.name for image in repo.list_images(EVERYTHING, viewer, None)}
        shown = {image.name for image in catalogue if repo.can_see(image, viewer)}
        return shown - listed

    assert await images.read(lambda repo: shown_not_listed(repo, Viewer("p3", False))) == {
        "None-private"
    }
    assert await images.read(lambda repo: shown_not_listed(repo, Viewer("p4", False))) == {
        "None-private",
        "None-shared",
    }
    assert await images.read(lambda repo: shown_not_listed(repo, Viewer(None, False))) == {
        "None-private",
        "None-shared",
    }
    assert await images.read(lambda repo: shown_not_listed(repo, Viewer(None, True))) == set()
