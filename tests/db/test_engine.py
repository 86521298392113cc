"""glimpse.db.engine: every unit of work (``Database.read/write``) is one transaction,
committed when the work returns and rolled back when it raises; ``UnitsOfWork`` hands the
work a capability's repository bound to that transaction's connection."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from glimpse.clock import utcnow
from glimpse.db import engine
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import orphaned_data
from tests.support.units import count_rows


class Orphans:
    """A small real repository over one table, for these tests."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, url: str, row_id: int | None = None) -> None:
        values = {"store": "file", "location": url, "created_at": utcnow()}
        if row_id is not None:
            values["id"] = row_id
        self.conn.execute(insert(orphaned_data).values(**values))

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(orphaned_data)).scalar_one())


class Boom(Exception):
    pass


async def test_a_write_is_committed_when_the_work_returns(db: Database) -> None:
    def work(conn: Connection) -> str:
        Orphans(conn).add("file:///a")
        Orphans(conn).add("file:///b")
        return "done"

    assert await db.write(work) == "done"
    assert await db.read(lambda conn: Orphans(conn).count()) == 2
    assert count_rows(db, orphaned_data) == 2


async def test_a_write_that_raises_is_rolled_back_whole(db: Database) -> None:
    def work(conn: Connection) -> None:
        Orphans(conn).add("file:///a")
        Orphans(conn).add("file:///b")
        assert Orphans(conn).count() == 2  # the work sees its own rows
        raise Boom("changed my mind")

    with pytest.raises(Boom, match="changed my mind"):
        await db.write(work)
    assert count_rows(db, orphaned_data) == 0


async def test_a_failing_statement_undoes_the_earlier_ones(db: Database) -> None:
    def work(conn: Connection) -> None:
        Orphans(conn).add("file:///first", row_id=7)
        Orphans(conn).add("file:///again", row_id=7)  # the same primary key

    with pytest.raises(IntegrityError):
        await db.write(work)
    assert count_rows(db, orphaned_data) == 0


async def test_others_see_a_write_only_once_it_is_over(db: Database) -> None:
    seen_by_others: list[int] = []

    def work(conn: Connection) -> None:
        assert conn.in_transaction()
        Orphans(conn).add("file:///a")
        # another connection, outside this unit of work
        seen_by_others.append(count_rows(db, orphaned_data))

    await db.write(work)
    assert seen_by_others == [0]
    assert count_rows(db, orphaned_data) == 1


async def test_a_read_is_one_transaction_too(db: Database) -> None:
    await db.write(lambda conn: Orphans(conn).add("file:///a"))

    def work(conn: Connection) -> tuple[bool, int]:
        return conn.in_transaction(), Orphans(conn).count()

    assert await db.read(work) == (True, 1)


async def test_units_of_work_hand_the_repository_the_transaction_connection(
    db: Database,
) -> None:
    made: list[Orphans] = []

    def repository(conn: Connection) -> Orphans:
        made.append(Orphans(conn))
        return made[-1]

    orphans = UnitsOfWork(db, repository)

    def add_two(repo: Orphans) -> int:
        assert repo is made[-1]
        assert repo.conn.in_transaction()
        repo.add("file:///a")
        repo.add("file:///b")
        return repo.count()

    assert await orphans.write(add_two) == 2
    assert await orphans.read(lambda repo: repo.count()) == 2
    assert len(made) == 2  # one repository per unit of work


async def test_units_of_work_roll_back_as_the_database_does(db: Database) -> None:
    orphans = UnitsOfWork(db, Orphans)

    def work(repo: Orphans) -> None:
        repo.add("file:///a")
        raise Boom

    with pytest.raises(Boom):
        await orphans.write(work)
    assert await orphans.read(lambda repo: repo.count()) == 0


# ------------------------------------------------------------ PostgreSQL's round trips


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(db: Database, pid: int) -> None:
    """Kill one server process, as a restart or an idle timeout of the server would."""
    with db.engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()


async def test_a_read_on_postgresql_spends_no_begin_or_commit(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite reads run in a deferred transaction: nothing to save")

    def work(conn: Connection) -> tuple[bool, bool]:
        # in a transaction, now() is the transaction's start; each statement its own here
        same = conn.execute(text("SELECT now() = statement_timestamp()")).scalar_one()
        return conn.in_transaction(), bool(same)

    assert await db.read(work) == (True, True)
    # a write is one transaction, and the connection it takes back is one again
    assert await db.write(work) == (True, False)
    assert await db.read(work) == (True, True)


async def test_a_connection_idle_long_enough_is_pinged_and_replaced_if_dead(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no server to lose a connection to")
    first = await db.read(_backend_pid)
    _terminate(db, first)
    monkeypatch.setattr(engine, "IDLE_PING_SECONDS", 0.0)
    # the pool's connection is dead: the ping finds out and a new one serves the read
    replaced = await db.read(_backend_pid)
    assert replaced != first
    assert await db.write(_backend_pid) == replaced  # alive: kept


async def test_a_connection_in_steady_use_is_not_pinged(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no server to lose a connection to")
    first = await db.read(_backend_pid)
    _terminate(db, first)
    monkeypatch.setattr(engine, "IDLE_PING_SECONDS", 3600.0)
    # not pinged: the unit of work meets the dead connection (and the pool drops it)
    with pytest.raises(OperationalError):
        await db.read(_backend_pid)
    assert await db.read(_backend_pid) != first


@pytest.mark.parametrize(
    "options",
    ["", "-c statement_timeout=7000", ("-c search_path=public", "-c statement_timeout=7000")],
)
def test_postgresql_connections_start_no_parallel_workers(
    database_url: str, options: str | tuple[str, ...]
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("parallel workers are PostgreSQL's")
    url = make_url(database_url)
    if options:
        url = url.update_query_dict({"options": options})
    eng = engine.make_engine(url.render_as_string(hide_password=False))
    try:
        with eng.connect() as conn:
            workers = conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one()
            timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
    finally:
        eng.dispose()
    assert workers == "0"
    # options the URL already gave still apply
    assert timeout == ("7s" if "-c statement_timeout=7000" in options else "0")
