"""glimpse.db.lean: a lookup on the driver's own cursor gives exactly what SQLAlchemy's
execution gives, takes SQLAlchemy's path for statements that need its conversions, and
drops a connection the server lost, as SQLAlchemy does."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.exc import OperationalError

from glimpse.db import lean
from glimpse.db.engine import Database
from glimpse.db.tables import images
from glimpse.images.repository import _LIVE_IMAGE, ImageRepository, _list_statement
from glimpse.model.context import Viewer
from glimpse.model.images import Location
from glimpse.model.listing import ImageQuery
from tests.db.test_engine import _backend_pid, _terminate
from tests.support.units import new_image

_BY_NAME = select(images.c.id).where(images.c.name == bindparam("name"))
_EXPANDING = select(images.c.id).where(images.c.name.in_(bindparam("names", expanding=True)))
# constants the statement carries: an anonymous parameter, and an IN list rendered once
_CONSTANTS = select(images.c.id).where(
    images.c.disk_format == "qcow2", images.c.status.not_in(["killed", "deleted"])
)


async def test_the_same_values_as_sqlalchemys(db: Database) -> None:
    image = new_image(properties={"k": "v", "empty": ""}, tags=["a", "b"])

    def add(conn: Connection) -> None:
        repo = ImageRepository(conn)
        repo.add_image(image)
        repo.add_location(image.id, Location("file:///x", {"a": 1}, "file"))

    await db.write(add)

    def both(conn: Connection) -> tuple[object, object, object]:
        mine = lean.first(conn, _LIVE_IMAGE, {"image_id": image.id})
        row = conn.execute(_LIVE_IMAGE, {"image_id": image.id}).first()
        missing = lean.first(conn, _LIVE_IMAGE, {"image_id": "no-such-image"})
        return mine, None if row is None else row._asdict(), missing

    mine, theirs, missing = await db.read(both)
    assert mine == theirs and mine is not None and missing is None
    assert [type(value) for value in mine.values()] == [type(v) for v in theirs.values()]  # type: ignore[union-attr]
    found = await db.read(lambda conn: ImageRepository(conn).get_image(image.id))
    assert found is not None
    assert (found.properties, sorted(found.tags)) == ({"k": "v", "empty": ""}, ["a", "b"])
    assert [location.url for location in found.locations] == ["file:///x"]


async def test_statements_that_need_sqlalchemy_take_its_path(db: Database) -> None:
    image = new_image(name="one", disk_format="qcow2")
    await db.write(lambda conn: ImageRepository(conn).add_image(image))

    def work(conn: Connection) -> tuple[object, object, object]:
        return (
            lean.first(conn, _BY_NAME, {"name": "one"}),
            lean.first(conn, _EXPANDING, {"names": ["one", "two"]}),  # IN (…) is rendered
            lean.rows(conn, _CONSTANTS),
        )

    assert await db.read(work) == ({"id": image.id}, {"id": image.id}, [{"id": image.id}])
    if db.dialect == "postgresql":  # which took the driver's cursor

        def lean_ones(conn: Connection) -> list[bool]:
            statements = (_LIVE_IMAGE, _BY_NAME, _EXPANDING, _CONSTANTS)
            return [lean._compiled(s, conn.dialect) is not None for s in statements]

        assert await db.read(lean_ones) == [True, True, False, True]


@pytest.mark.parametrize(
    "query",
    [
        ImageQuery(limit=25),
        ImageQuery(limit=25, values={"disk_format": ["qcow2"]}, tags=["t-0"]),
        ImageQuery(limit=25, values={"disk_format": ["qcow2", "raw"]}, sort=[("name", "asc")]),
        ImageQuery(limit=25, visibility="all", member_status="all", properties={"k": "v-1"}),
    ],
)
@pytest.mark.parametrize("viewer", [Viewer("p-0", True), Viewer("p-1", False)])
async def test_list_pages_are_sqlalchemys(db: Database, query: ImageQuery, viewer: Viewer) -> None:
    made = [
        new_image(
            owner=f"p-{i % 3}",
            visibility=("public", "private", "shared", "community")[i % 4],
            disk_format=("qcow2", "raw", "iso")[i % 3],
            name=f"image-{i % 5}",
            properties={"k": f"v-{i % 2}"},
            tags=[f"t-{i % 3}"],
        )
        for i in range(30)
    ]

    def add(conn: Connection) -> None:
        repo = ImageRepository(conn)
        for image in made:
            repo.add_image(image)

    await db.write(add)
    statement = _list_statement(query, viewer, None)

    def both(conn: Connection) -> tuple[object, object, bool]:
        theirs = [row._asdict() for row in conn.execute(statement)]
        on_driver = lean._compiled(statement, conn.dialect) is not None
        return lean.rows(conn, statement), theirs, on_driver

    mine, theirs, on_driver = await db.read(both)
    assert mine == theirs and mine
    assert on_driver == (db.dialect == "postgresql")


async def test_a_connection_the_server_lost_is_dropped(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no server to lose a connection to")
    image = new_image()
    await db.write(lambda conn: ImageRepository(conn).add_image(image))
    first = await db.read(_backend_pid)
    _terminate(db, first)

    def lookup(conn: Connection) -> object:
        return lean.first(conn, _LIVE_IMAGE, {"image_id": image.id})

    with pytest.raises(OperationalError):
        await db.read(lookup)
    assert (await db.read(lookup) or {}).get("id") == image.id
    assert await db.read(_backend_pid) != first
    await db.read(lambda conn: conn.execute(text("SELECT 1")))
