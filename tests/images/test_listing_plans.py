"""EXPLAIN of every listing shape on a PostgreSQL catalogue big enough that the planner
would rather read ``images`` whole than walk an index it lacks: each page comes from an
index (migrations 0120_listing_indexes, 0160_listing_more_indexes), never from a
sequential scan of ``images``; the shapes 0160 is for use its indexes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from bench import listing_scale
from sqlalchemy.engine import make_url

from tests.conftest import _pg_admin

SIZE = 30_000


@pytest.fixture(scope="module")
def catalogue(database_url: str) -> Iterator[tuple[str, listing_scale.Catalogue]]:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    name = f"glimpse_plans_{secrets.token_hex(3)}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url, listing_scale.seed(url, SIZE)
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("shape", listing_scale.SHAPES, ids=lambda s: s.name)
def test_no_sequential_scan_of_images(
    catalogue: tuple[str, listing_scale.Catalogue], shape: listing_scale.Shape
) -> None:
    url, seeded = catalogue
    plan = listing_scale.plan(url, shape, seeded)
    assert not any("Seq Scan on images" in line for line in plan), "\n".join(plan)


# shape -> the indexes of 0160_listing_more_indexes (0200_tag_sort_keys,
# 0230_member_sort_keys) its plan reads
INTENDED = {
    "project sort=status:asc,name:desc": ["ix_images_live_status_name_desc"],
    "project tag=tag-7": [
        "ix_image_tags_value_owner_created",
        "ix_image_tags_value_visibility_created",
    ],
    "member visibility=shared": [
        "ix_image_members_member_status_created",
        "ix_images_live_owner_visibility_created",
    ],
    "member member_status=all": ["ix_image_members_member_status_created"],
}


@pytest.mark.parametrize("name", INTENDED)
def test_intended_index(catalogue: tuple[str, listing_scale.Catalogue], name: str) -> None:
    url, seeded = catalogue
    (shape,) = (s for s in listing_scale.SHAPES if s.name == name)
    plan = "\n".join(listing_scale.plan(url, shape, seeded))
    for index in INTENDED[name]:
        assert f" {index} " in plan, plan
