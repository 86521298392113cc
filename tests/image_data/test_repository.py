"""glimpse.image_data.repository.UploadRepository on real databases: an upload's lease is
taken, renewed and released only by that upload, renewal fails once the image cannot
finish, and expired leases are claimed (and dropped) by one claimer each."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from glimpse.clock import utcnow
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import image_uploads
from glimpse.image_data.repository import Lease, UploadRepository
from glimpse.images.status import Move
from glimpse.model.images import Image, Location, Status
from tests.support.units import new_image, rows

NODE = "node-1"


@pytest.fixture
def uploads(db: Database) -> UnitsOfWork[UploadRepository]:
    return UnitsOfWork(db, UploadRepository)


async def saving(uploads: UnitsOfWork[UploadRepository], count: int = 1) -> list[Image]:
    made = [new_image(status=Status.SAVING) for _ in range(count)]

    def add(repo: UploadRepository) -> None:
        for image in made:
            repo.images.add_image(image)

    await uploads.write(add)
    return made


def lease_of(image: Image, n: int = 0) -> Lease:
    return Lease(image.id, Location(url=f"file:///srv/images/{image.id}.{n}.part", store="file"))


def ids(leases: list[Lease]) -> list[str]:
    return [lease.image_id for lease in leases]


async def take(
    uploads: UnitsOfWork[UploadRepository], lease: Lease, expires_at: datetime | None = None
) -> None:
    until = expires_at or utcnow() + timedelta(minutes=1)
    await uploads.write(lambda repo: repo.take_lease(lease, NODE, until))


async def renew(uploads: UnitsOfWork[UploadRepository], lease: Lease) -> bool:
    until = utcnow() + timedelta(minutes=2)
    return await uploads.write(lambda repo: repo.renew_lease(lease, until))


async def release(uploads: UnitsOfWork[UploadRepository], lease: Lease) -> bool:
    return await uploads.write(lambda repo: repo.release_lease(lease))


async def test_a_lease_is_taken_renewed_and_released(
    db: Database, uploads: UnitsOfWork[UploadRepository]
) -> None:
    [image] = await saving(uploads)
    lease = lease_of(image)
    soon = utcnow() + timedelta(seconds=30)
    await take(uploads, lease, soon)
    assert rows(db, image_uploads, "image_id", "store", "location", "node", "expires_at") == [
        (image.id, "file", lease.partial.url, NODE, soon)
    ]

    assert await renew(uploads, lease) is True
    [(expires_at,)] = rows(db, image_uploads, "expires_at")
    assert expires_at > soon

    assert await release(uploads, lease) is True
    assert rows(db, image_uploads, "image_id") == []
    assert await release(uploads, lease) is False  # not held any more
    assert await renew(uploads, lease) is False


async def test_a_lease_replaced_by_another_uploads_is_no_longer_held(
    db: Database, uploads: UnitsOfWork[UploadRepository]
) -> None:
    [image] = await saving(uploads)
    first, second = lease_of(image, 1), lease_of(image, 2)
    await take(uploads, first)
    await take(uploads, second)
    assert rows(db, image_uploads, "location") == [(second.partial.url,)]
    assert await renew(uploads, first) is False
    assert await release(uploads, first) is False
    assert await renew(uploads, second) is True
    assert await release(uploads, second) is True


@pytest.mark.parametrize("how", ["finished", "deleted", "abandoned"])
async def test_renewal_fails_once_the_image_is_no_longer_saving(
    uploads: UnitsOfWork[UploadRepository], how: str
) -> None:
    [image] = await saving(uploads)
    lease = lease_of(image)
    await take(uploads, lease)

    def elsewhere(repo: UploadRepository) -> bool:
        if how == "deleted":
            return repo.images.delete_image(image.id)
        move = Move.FINISH_UPLOAD if how == "finished" else Move.ABANDON_UPLOAD
        return repo.images.move(image.id, move)

    assert await uploads.write(elsewhere) is True
    assert await renew(uploads, lease) is False


async def test_leases_of_other_images_are_apart(
    uploads: UnitsOfWork[UploadRepository],
) -> None:
    one, two = await saving(uploads, 2)
    await take(uploads, lease_of(one))
    await take(uploads, lease_of(two))
    assert await release(uploads, lease_of(one)) is True
    assert await renew(uploads, lease_of(two)) is True
    # a lease naming the other image's partial data is not that image's lease
    assert await renew(uploads, Lease(one.id, lease_of(two).partial)) is False


async def test_claim_expired_returns_and_drops_only_expired_leases(
    db: Database, uploads: UnitsOfWork[UploadRepository]
) -> None:
    made = await saving(uploads, 5)
    now = utcnow()
    expired = [lease_of(image) for image in made[:3]]
    alive = [lease_of(image) for image in made[3:]]
    for n, lease in enumerate(expired):
        await take(uploads, lease, now - timedelta(seconds=n + 1))
    for lease in alive:
        await take(uploads, lease, now + timedelta(minutes=1))

    claimed = await uploads.write(lambda repo: repo.claim_expired(now, limit=2))
    assert len(claimed) == 2 and all(lease in expired for lease in claimed)
    rest = await uploads.write(lambda repo: repo.claim_expired(now))
    assert sorted(ids(claimed + rest)) == sorted(ids(expired))
    assert await uploads.write(lambda repo: repo.claim_expired(now)) == []

    assert sorted(location for (location,) in rows(db, image_uploads, "location")) == sorted(
        lease.partial.url for lease in alive
    )
    for lease in alive:
        assert await renew(uploads, lease) is True
    for lease in expired:
        assert await renew(uploads, lease) is False


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_claimers_on_postgresql_never_share_a_lease(
    database_url: str, db: Database, uploads: UnitsOfWork[UploadRepository]
) -> None:
    """Two nodes' housekeeping, both in open transactions: the second skips the leases
    the first has claimed (and does not wait for them)."""
    made = await saving(uploads, 6)
    # expired only for this test's claimers: the leases run out an hour from now and
    # "now" is two hours ahead, so that no running server's housekeeping on this
    # database (the session's server process) reaps them first
    now = utcnow() + timedelta(hours=2)
    expired = [lease_of(image) for image in made]
    for lease in expired:
        await take(uploads, lease, now - timedelta(hours=1))

    first_db, second_db = Database(database_url), Database(database_url)
    try:
        with first_db.engine.connect() as first, second_db.engine.connect() as second:
            # a claimer that waited for the other's locks would fail instead of hanging
            second.exec_driver_sql("SET lock_timeout = '2s'")
            first_claimed = UploadRepository(first).claim_expired(now, limit=4)
            second_claimed = UploadRepository(second).claim_expired(now)
            assert len(first_claimed) == 4
            # none twice, none left out (the partial data is each lease's own)
            assert sorted(ids(first_claimed + second_claimed)) == sorted(ids(expired))
            assert all(lease in expired for lease in first_claimed + second_claimed)
            first.commit()
            second.commit()
    finally:
        await first_db.aclose()
        await second_db.aclose()
    assert rows(db, image_uploads, "image_id") == []
