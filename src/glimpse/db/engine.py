"""Engines and units of work.

Each request's database work is one plain function that receives the connection of one
transaction; a capability wraps it in its own repository (:class:`UnitsOfWork`), so this
module knows no capability's SQL. Where it runs depends on the database,
chosen so that no unit of work ever waits for Python's GIL behind another thread:

- SQLite (embedded): on the event loop itself. A unit of work is a few hundred
  microseconds of CPU, cheaper than handing it to a thread and back. Write transactions
  start with ``BEGIN IMMEDIATE`` so that concurrent writers (other worker processes) queue
  on the lock instead of failing when a read lock cannot be upgraded.
- PostgreSQL: through SQLAlchemy's asyncio engine (psycopg 3 in async mode). The same
  synchronous repository code runs in a greenlet on the event loop, and network waits
  yield to other requests. The whole unit of work (checkout, BEGIN, the work, COMMIT,
  checkin) runs in one greenlet on the engine's synchronous face, rather than a greenlet
  and an awaitable wrapper for each step as ``AsyncConnection`` would. Round trips are
  what a unit of work costs there, so none is spent that buys nothing: a read runs in
  autocommit (under READ COMMITTED each statement takes its own snapshot inside a
  transaction too, so BEGIN and COMMIT would add two round trips and no consistency),
  and a pooled connection is pinged only after it sat idle (see :func:`_ping_when_idle`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from glimpse import metrics

T = TypeVar("T")
R = TypeVar("R")

SQLITE_BUSY_TIMEOUT_MS = 30_000
RETRIES = 5
# a pooled connection unused for longer is pinged before use (the server may have
# restarted or closed it); one in steady use has just proven itself
IDLE_PING_SECONDS = 10.0


# every query glimpse makes is a page or a lookup: starting parallel workers costs more
# than the work (a list page waited 15-30 ms for them at a million images)
SERIAL_ONLY = "-c max_parallel_workers_per_gather=0"


def _postgres_url(parsed: URL) -> URL:
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    options = parsed.query.get("options")
    options = " ".join(options) if isinstance(options, tuple) else options
    return parsed.update_query_dict(
        {"options": f"{options} {SERIAL_ONLY}" if options else SERIAL_ONLY}
    )


def _private_sqlite_file(path: Path) -> None:
    """The embedded database holds every password hash: made 0600 before SQLite opens
    it, whatever the umask (SQLite gives its -wal, -shm and -journal files the database
    file's mode); files an older start left readable are closed up too."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # never open an existing database here: closing any descriptor of it would drop
    # the POSIX locks SQLite holds on it in this process
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    for each in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if each.exists():
            os.chmod(each, 0o600)


def make_engine(url: str) -> Engine:
    """A synchronous engine (migrations, tools, and SQLite serving)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            _private_sqlite_file(Path(database))
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=4,
            max_overflow=8,
        )
        _sqlite_transactions(engine)
        return engine
    engine = create_engine(_postgres_url(parsed))
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection before use only if it sat in the pool for ``IDLE_PING_SECONDS``
    (``pool_pre_ping`` would spend a round trip on every checkout). A dead one is
    replaced by a new connection, as pre-ping does."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_: Any, record: Any) -> None:
        record.info["glimpse_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _: Any) -> None:
        since = record.info.pop("glimpse_idle_since", None)
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"connection lost while idle: {exc}") from exc


def _measure_pool(engine: Engine) -> None:
    """Count the connections checked out of ``engine``'s pool (Prometheus metrics)."""
    if not metrics.enabled():
        return

    def checked_out(_: Any, record: Any, __: Any) -> None:
        record.info["glimpse_counted"] = True
        metrics.connection_checked_out(1)

    def checked_in(_: Any, record: Any) -> None:
        # only what was counted out: a pool also checks in connections it invalidated
        # or that were checked out before the count began
        if record.info.pop("glimpse_counted", False):
            metrics.connection_checked_out(-1)

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "checkin", checked_in)


def _sqlite_transactions(engine: Engine) -> None:
    """Take transaction control from pysqlite and begin deferred or immediate ourselves."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("glimpse_write", False)
        # straight to the driver: this runs for every unit of work
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            "BEGIN IMMEDIATE" if immediate else "BEGIN"
        )


def _retryable(exc: DBAPIError) -> bool:
    # PostgreSQL serialization failures and deadlocks are safe to retry whole
    return getattr(exc.orig, "sqlstate", None) in {"40001", "40P01"}


class Database:
    """Runs units of work, each in its own transaction."""

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._async: AsyncEngine | None = None
        self._reads: Engine | None = None  # the asyncio engine's, used from a greenlet
        self._sync: Engine | None = None
        if self.dialect == "sqlite":
            self._sync = make_engine(url)
            _measure_pool(self._sync)
        else:
            self._async = create_async_engine(
                _postgres_url(parsed), pool_size=pool_size, max_overflow=8
            )
            _ping_when_idle(self._async.sync_engine)
            _measure_pool(self._async.sync_engine)
            # the same pool; each connection is back out of autocommit when returned
            self._reads = self._async.sync_engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def engine(self) -> Engine:
        """A synchronous engine on the same database, for tools and tests."""
        if self._sync is None:
            self._sync = make_engine(self.url)
        return self._sync

    # ------------------------------------------------------------- SQLite path

    def _read_sync(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn, conn.begin():
            return work(conn)

    def _write_sync(self, work: Callable[[Connection], T]) -> T:
        with self.engine.connect().execution_options(glimpse_write=True) as conn, conn.begin():
            return work(conn)

    # --------------------------------------------------------- PostgreSQL path

    @staticmethod
    def _in_greenlet(engine: Engine, work: Callable[[Connection], T]) -> T:
        with engine.connect() as conn, conn.begin():
            return work(conn)

    # ----------------------------------------------------------------- the API

    async def read(self, work: Callable[[Connection], T]) -> T:
        if self._reads is None:
            return self._read_sync(work)
        return await greenlet_spawn(self._in_greenlet, self._reads, work)

    async def write(self, work: Callable[[Connection], T]) -> T:
        if self._async is None:
            return self._write_sync(work)
        for attempt in range(RETRIES):
            try:
                return await greenlet_spawn(self._in_greenlet, self._async.sync_engine, work)
            except DBAPIError as exc:
                if attempt == RETRIES - 1 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        self.close()

    def close(self) -> None:
        """Release the synchronous connections (the asyncio pool closes in aclose)."""
        if self._sync is not None:
            self._sync.dispose()


class UnitsOfWork(Generic[R]):
    """One capability's units of work: each receives that capability's repository,
    bound to the connection of its transaction."""

    def __init__(self, db: Database, repository: Callable[[Connection], R]) -> None:
        self.db = db
        self._repository = repository

    async def read(self, work: Callable[[R], T]) -> T:
        repository = self._repository
        return await self.db.read(lambda conn: work(repository(conn)))

    async def write(self, work: Callable[[R], T]) -> T:
        repository = self._repository
        return await self.db.write(lambda conn: work(repository(conn)))
