"""glimpse.images.repository.ImageRepository on real databases: records round-trip,
status changes only through ``move`` (a compare-and-set that one racer wins), soft
deletion, tags, locations, storage used, and keyset pages of the list."""

from __future__ import annotations

import asyncio
import functools
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import image_members, image_properties, image_tags
from glimpse.db.tables import images as images_table
from glimpse.images.member_repository import MemberRepository
from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.model.context import Viewer
from glimpse.model.images import Image, Location, Member, Status
from glimpse.model.listing import ImageQuery
from tests.support.units import count_rows, new_image

ADMIN = Viewer(project="admin-project", is_admin=True)


@pytest.fixture
def images(db: Database) -> UnitsOfWork[ImageRepository]:
    return UnitsOfWork(db, ImageRepository)


async def add(images: UnitsOfWork[ImageRepository], *made: Image) -> None:
    def work(repo: ImageRepository) -> None:
        for image in made:
            repo.add_image(image)

    await images.write(work)


async def get(images: UnitsOfWork[ImageRepository], image_id: str) -> Image | None:
    return await images.read(lambda repo: repo.get_image(image_id))


def add_member(conn: Connection, image_id: str, project: str) -> None:
    MemberRepository(conn).add_member(Member(image_id, project, "accepted"))


# ---------------------------------------------------------------- add and get


async def test_an_image_round_trips_with_its_properties_and_tags(
    images: UnitsOfWork[ImageRepository],
) -> None:
    created = datetime(2024, 2, 29, 12, 30, 45, 123456)
    image = new_image(
        name="cirros",
        status=Status.ACTIVE,
        visibility="public",
        protected=True,
        os_hidden=True,
        checksum="c" * 32,
        os_hash_algo="sha512",
        os_hash_value="f" * 128,
        owner="p1",
        size=(5 << 30) + 1,  # beyond 32 bits
        virtual_size=10 << 30,
        container_format="bare",
        disk_format="qcow2",
        min_disk=2,
        min_ram=512,
        created_at=created,
        updated_at=created + timedelta(seconds=1),
        properties={"os_distro": "cirros", "hw_machine_type": "q35", "empty": None},
        tags=["one", "two", "three"],
    )
    await add(images, image)

    found = await get(images, image.id)
    assert found is not None
    assert found.base_values() == image.base_values()
    assert found.properties == image.properties
    assert sorted(found.tags) == sorted(image.tags)


async def test_an_image_without_extras_and_one_that_never_was(
    images: UnitsOfWork[ImageRepository],
) -> None:
    image = new_image()
    await add(images, image)
    found = await get(images, image.id)
    assert found is not None
    assert (found.properties, found.tags, found.status) == ({}, [], "queued")
    assert await get(images, new_image().id) is None
    assert await images.read(lambda repo: repo.get_status(new_image().id)) is None
    assert await images.read(lambda repo: repo.id_exists(new_image().id)) is False


async def test_update_image_sets_columns_of_a_live_image(
    images: UnitsOfWork[ImageRepository],
) -> None:
    image = new_image(name="before", min_ram=0)
    await add(images, image)
    changed = await images.write(
        lambda repo: repo.update_image(image.id, {"name": "after", "min_ram": 256})
    )
    assert changed is True
    found = await get(images, image.id)
    assert found is not None and (found.name, found.min_ram) == ("after", 256)
    unknown = await images.write(lambda repo: repo.update_image(new_image().id, {"name": "x"}))
    assert unknown is False


async def test_update_image_refuses_to_change_the_status(
    images: UnitsOfWork[ImageRepository],
) -> None:
    image = new_image(status=Status.QUEUED)
    await add(images, image)
    with pytest.raises(AssertionError):
        await images.write(lambda repo: repo.update_image(image.id, {"status": "active"}))
    assert await images.read(lambda repo: repo.get_status(image.id)) == "queued"


async def test_save_extras_sets_removes_and_replaces(
    images: UnitsOfWork[ImageRepository],
) -> None:
    image = new_image(properties={"a": "1", "b": "2", "c": "3"}, tags=["x", "y"])
    await add(images, image)
    await images.write(
        lambda repo: repo.save_extras(
            image.id, set_properties={"a": "one", "d": None}, remove_properties=["b"], tags=["z"]
        )
    )
    found = await get(images, image.id)
    assert found is not None
    assert found.properties == {"a": "one", "c": "3", "d": None}
    assert found.tags == ["z"]
    await images.write(lambda repo: repo.save_extras(image.id, tags=[]))
    found = await get(images, image.id)
    assert found is not None and found.tags == [] and found.properties["a"] == "one"


# -------------------------------------------------------------------- move


def _sources(move: Move) -> set[str]:
    """The statuses each move leaves from, as Glance has them."""
    live = {"queued", "saving", "uploading", "importing", "active", "deactivated", "killed"}
    return {
        Move.START_UPLOAD: {"queued"},
        Move.FINISH_UPLOAD: {"saving"},
        Move.ABANDON_UPLOAD: {"saving"},
        Move.START_STAGE: {"queued"},
        Move.ABANDON_STAGE: {"uploading"},
        Move.START_IMPORT: {"queued", "uploading"},
        Move.FINISH_IMPORT: {"importing"},
        Move.FAIL_IMPORT: {"importing"},
        Move.ACTIVATE_WITH_LOCATION: {"queued"},
        Move.DEACTIVATE: {"active"},
        Move.REACTIVATE: {"deactivated"},
        Move.DELETE: live,
        Move.DELAY_DELETE: live,
        Move.RESTORE: {"pending_delete"},
        Move.SCRUB: {"pending_delete"},
    }[move]


@pytest.mark.parametrize("move", list(Move), ids=lambda move: move.name)
async def test_move_is_a_compare_and_set_on_the_status(
    images: UnitsOfWork[ImageRepository], move: Move
) -> None:
    """From each status: the move happens only from its sources; otherwise the row is
    left exactly as it was."""
    old = datetime(2020, 1, 1)
    by_status = {
        status: new_image(status=status, name=str(status), created_at=old, updated_at=old)
        for status in Status
    }
    await add(images, *by_status.values())

    def move_all(repo: ImageRepository) -> dict[str, bool]:
        return {
            status: repo.move(image.id, move, {"min_ram": 64})
            for status, image in by_status.items()
        }

    moved = await images.write(move_all)
    assert {status for status, done in moved.items() if done} == _sources(move)
    for status, image in by_status.items():
        found = await images.read(functools.partial(_raw, image_id=image.id))
        if status in _sources(move):
            assert found["status"] == move.target
            assert found["min_ram"] == 64
            assert found["updated_at"] > old
        else:
            assert found == {**image.base_values(), "deleted": False, "deleted_at": None}


def _raw(repo: ImageRepository, image_id: str) -> dict[str, Any]:
    """The whole images row, deleted or not."""
    return dict(
        repo.conn.execute(select(images_table).where(images_table.c.id == image_id)).one()._mapping
    )


async def test_a_deleted_image_does_not_move(images: UnitsOfWork[ImageRepository]) -> None:
    image = new_image(status=Status.ACTIVE)
    await add(images, image)
    assert await images.write(lambda repo: repo.delete_image(image.id)) is True
    for move in Move:
        assert await images.write(lambda repo, move=move: repo.move(image.id, move)) is False
    assert await images.read(lambda repo: repo.get_status(image.id)) == "deleted"


async def test_of_concurrent_moves_exactly_one_wins(
    database_url: str, db: Database, images: UnitsOfWork[ImageRepository]
) -> None:
    image = new_image(status=Status.ACTIVE)
    await add(images, image)
    other = Database(database_url)
    try:
        racers = [
            database.write(lambda conn: ImageRepository(conn).move(image.id, Move.DEACTIVATE))
            for database in (db, other) * 4
        ]
        results = await asyncio.gather(*racers)
    finally:
        await other.aclose()
    assert sorted(results) == [False] * 7 + [True]
    assert await images.read(lambda repo: repo.get_status(image.id)) == "deactivated"


def _wait_until_blocked(db: Database, pid: int) -> None:
    """Return once PostgreSQL backend ``pid`` waits for a lock another one holds."""
    deadline = time.monotonic() + 10
    with db.engine.connect() as watcher:
        while time.monotonic() < deadline:
            blockers = watcher.execute(
                text("SELECT cardinality(pg_blocking_pids(:pid))"), {"pid": pid}
            ).scalar_one()
            watcher.rollback()
            if blockers:
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for the other transaction")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_open_transactions_racing_on_postgresql_only_one_moves(
    database_url: str, db: Database, images: UnitsOfWork[ImageRepository]
) -> None:
    """Both transactions saw the image active; the second one's move waits for the
    first's row lock and then finds the status changed: it does not move."""
    image = new_image(status=Status.ACTIVE)
    await add(images, image)
    first_db, second_db = Database(database_url), Database(database_url)
    try:
        with (
            first_db.engine.connect() as first,
            second_db.engine.connect() as second,
            ThreadPoolExecutor(1) as pool,
        ):
            assert ImageRepository(first).get_status(image.id) == "active"
            assert ImageRepository(second).get_status(image.id) == "active"
            assert ImageRepository(first).move(image.id, Move.DEACTIVATE) is True
            pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
            racing = pool.submit(ImageRepository(second).move, image.id, Move.DEACTIVATE)
            _wait_until_blocked(first_db, pid)
            first.commit()
            assert racing.result(timeout=10) is False
            second.commit()
    finally:
        await first_db.aclose()
        await second_db.aclose()
    assert await images.read(lambda repo: repo.get_status(image.id)) == "deactivated"


# ------------------------------------------------------------------ delete


async def test_delete_is_soft_and_drops_the_metadata_rows(
    db: Database, images: UnitsOfWork[ImageRepository]
) -> None:
    image = new_image(status=Status.ACTIVE, properties={"a": "1"}, tags=["t1", "t2"])
    kept = new_image(status=Status.ACTIVE, properties={"a": "1"}, tags=["t1"])
    await add(images, image, kept)

    def share(repo: ImageRepository) -> None:
        add_member(repo.conn, image.id, "p2")
        add_member(repo.conn, kept.id, "p2")

    await images.write(share)

    assert await images.write(lambda repo: repo.delete_image(image.id)) is True
    assert await get(images, image.id) is None
    assert await images.read(lambda repo: repo.get_status(image.id)) == "deleted"
    assert await images.read(lambda repo: repo.id_exists(image.id)) is True
    for table in (image_properties, image_tags, image_members):
        assert count_rows(db, table, image_id=image.id) == 0
        assert count_rows(db, table, image_id=kept.id) == 1  # others' rows stay
    # twice: nothing left to delete
    assert await images.write(lambda repo: repo.delete_image(image.id)) is False
    assert await images.write(lambda repo: repo.update_image(image.id, {"name": "x"})) is False


# -------------------------------------------------------------------- tags


async def test_tags_are_added_once_and_removed(images: UnitsOfWork[ImageRepository]) -> None:
    image = new_image(tags=["old"])
    await add(images, image)
    await images.write(lambda repo: repo.add_tag(image.id, "new"))
    await images.write(lambda repo: repo.add_tag(image.id, "new"))  # already there
    found = await get(images, image.id)
    assert found is not None and sorted(found.tags) == ["new", "old"]
    assert await images.write(lambda repo: repo.remove_tag(image.id, "old")) is True
    assert await images.write(lambda repo: repo.remove_tag(image.id, "old")) is False
    found = await get(images, image.id)
    assert found is not None and found.tags == ["new"]


# --------------------------------------------------------------- locations


async def test_locations_are_added_listed_in_order_and_removed(
    images: UnitsOfWork[ImageRepository],
) -> None:
    image, other = new_image(), new_image()
    await add(images, image, other)
    first = Location(url="file:///srv/a/1", metadata={"n": 1, "nested": {"x": [1, 2]}}, store="a")
    second = Location(url="file:///srv/b/1", store=None)
    elsewhere = Location(url="file:///srv/a/2", store="a")

    def add_locations(repo: ImageRepository) -> None:
        repo.add_location(image.id, first)
        repo.add_location(other.id, elsewhere)
        repo.add_location(image.id, second)

    await images.write(add_locations)
    assert await images.read(lambda repo: repo.get_locations(image.id)) == [first, second]
    removed = await images.write(lambda repo: repo.remove_locations(image.id))
    assert removed == [first, second]
    assert await images.read(lambda repo: repo.get_locations(image.id)) == []
    assert await images.read(lambda repo: repo.get_locations(other.id)) == [elsewhere]


# ------------------------------------------------------------ storage used


async def test_storage_used_counts_each_location_of_an_owners_live_images(
    images: UnitsOfWork[ImageRepository],
) -> None:
    twice = new_image(owner="p1", status=Status.ACTIVE, size=100)
    once = new_image(owner="p1", status=Status.ACTIVE, size=50)
    no_location = new_image(owner="p1", status=Status.QUEUED, size=70)
    no_size = new_image(owner="p1", status=Status.ACTIVE, size=None)
    deleted = new_image(owner="p1", status=Status.ACTIVE, size=1000)
    others = new_image(owner="p2", status=Status.ACTIVE, size=7)
    ownerless = new_image(owner=None, status=Status.ACTIVE, size=3)
    await add(images, twice, once, no_location, no_size, deleted, others, ownerless)

    def locate(repo: ImageRepository) -> None:
        for image, copies in ((twice, 2), (once, 1), (no_size, 1), (deleted, 1), (others, 3)):
            for n in range(copies):
                repo.add_location(image.id, Location(url=f"file:///d/{image.id}.{n}"))
        repo.add_location(ownerless.id, Location(url="file:///d/ownerless"))
        repo.delete_image(deleted.id)

    await images.write(locate)
    assert await images.read(lambda repo: repo.storage_used("p1")) == 2 * 100 + 50
    assert await images.read(lambda repo: repo.storage_used("p2")) == 3 * 7
    assert await images.read(lambda repo: repo.storage_used(None)) == 3
    assert await images.read(lambda repo: repo.storage_used("nobody")) == 0


# ----------------------------------------------------------------- listing


def _catalogue() -> list[Image]:
    """Images with repeated and missing sort values (names, sizes, times, statuses)."""
    base = datetime(2024, 5, 1, 8, 0, 0)
    names = ["alpha", None, "bravo", "alpha", None, "charlie", "bravo", "alpha", "delta", None]
    sizes = [10, None, 10, 30, None, 20, 10, None, 30, 5]
    statuses = ["active", "queued", "active", "deactivated", "active", "saving"] * 2
    made = []
    for n in range(len(names)):
        created = base + timedelta(minutes=n % 4)  # several images per instant
        made.append(
            new_image(
                id=f"{(n * 7919) % 10007:08x}-0000-4000-8000-{n:012x}",
                name=names[n],
                size=sizes[n],
                status=statuses[n],
                visibility="public",
                created_at=created,
                updated_at=created + timedelta(seconds=n),
            )
        )
    return made


def _ordered(made: list[Image], sort: list[tuple[str, str]]) -> list[str]:
    """The ids in ``sort`` order, NULL being the smallest value."""

    def compare(a: Image, b: Image) -> int:
        for key, direction in sort:
            x, y = getattr(a, key), getattr(b, key)
            if x == y:
                continue
            smaller = x is None or (y is not None and x < y)
            return (-1 if smaller else 1) * (1 if direction == "asc" else -1)
        return 0

    return [image.id for image in sorted(made, key=functools.cmp_to_key(compare))]


SORTS = [
    [("created_at", "desc"), ("id", "desc")],
    [("name", "asc"), ("id", "asc")],
    [("name", "desc"), ("id", "asc")],
    [("size", "asc"), ("created_at", "desc"), ("id", "asc")],
    [("size", "desc"), ("name", "asc"), ("id", "desc")],
    [("name", "desc"), ("size", "desc"), ("id", "desc")],
    [("status", "asc"), ("size", "asc"), ("updated_at", "asc"), ("id", "asc")],
]


@pytest.mark.parametrize("sort", SORTS, ids=lambda sort: ",".join(f"{k}:{d}" for k, d in sort))
@pytest.mark.parametrize("page_size", [1, 3, 4])
async def test_pages_concatenate_to_the_whole_ordered_list(
    images: UnitsOfWork[ImageRepository], sort: list[tuple[str, str]], page_size: int
) -> None:
    made = _catalogue()
    await add(images, *made)
    query = ImageQuery(limit=page_size, sort=sort, visibility="all")
    whole = await images.read(
        lambda repo: repo.list_images(
            ImageQuery(limit=100, sort=sort, visibility="all"), ADMIN, None
        )
    )
    assert [image.id for image in whole] == _ordered(made, sort)

    walked: list[str] = []
    marker: Image | None = None
    while True:
        page = await images.read(
            functools.partial(ImageRepository.list_images, query=query, viewer=ADMIN, marker=marker)
        )
        assert len(page) <= page_size
        walked.extend(image.id for image in page)
        if len(page) < page_size:
            break
        marker = page[-1]
        assert len(walked) <= len(made), "pagination does not end"
    assert walked == _ordered(made, sort)


async def test_a_listed_page_carries_properties_and_tags(
    images: UnitsOfWork[ImageRepository],
) -> None:
    tagged = new_image(visibility="public", properties={"k": "v"}, tags=["a", "b"])
    bare = new_image(visibility="public")
    await add(images, tagged, bare)
    found = await images.read(
        lambda repo: repo.list_images(ImageQuery(limit=10, visibility="all"), ADMIN, None)
    )
    by_id = {image.id: image for image in found}
    assert set(by_id) == {tagged.id, bare.id}
    assert (by_id[tagged.id].properties, sorted(by_id[tagged.id].tags)) == ({"k": "v"}, ["a", "b"])
    assert (by_id[bare.id].properties, by_id[bare.id].tags) == ({}, [])


async def test_lists_built_at_once_on_many_threads_stay_right_and_bounded(
    images: UnitsOfWork[ImageRepository],
) -> None:
    from glimpse.images import repository

    made = [new_image(visibility="public") for _ in range(3)]
    await add(images, *made)
    queries = [ImageQuery(limit=3 + n, visibility="all") for n in range(200)]
    found = await asyncio.gather(
        *(images.read(lambda repo, q=q: len(repo.list_images(q, ADMIN, None))) for q in queries)
    )
    assert found == [3] * len(queries)
    assert len(repository._LISTS) <= repository._LISTS_KEPT
