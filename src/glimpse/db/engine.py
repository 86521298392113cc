"""Engines and units of work, run off the event loop.

Each request's database work is one plain function that receives a repository bound to
one connection; it runs in a worker thread as a single transaction (one thread hop per
unit of work, not per statement). SQLite write transactions start with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the lock instead of failing
with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from glimpse.db.repository import Repository

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=8,
        )
        _sqlite_transactions(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_size=16, max_overflow=8, pool_pre_ping=True)


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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Runs units of work in a thread pool, each in its own transaction."""

    def __init__(self, url: str, *, threads: int = 16) -> None:
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="glimpse-db")

    def read_sync(self, work: Callable[[Repository], T]) -> T:
        with self.engine.connect() as conn, conn.begin():
            return work(Repository(conn))

    def write_sync(self, work: Callable[[Repository], T]) -> T:
        for attempt in range(5):
            try:
                with (
                    self.engine.connect().execution_options(glimpse_write=True) as conn,
                    conn.begin(),
                ):
                    return work(Repository(conn))
            except OperationalError as exc:
                # PostgreSQL serialization/deadlock failures are safe to retry whole.
                if attempt == 4 or not _retryable(exc):
                    raise
        raise AssertionError("unreachable")

    async def read(self, work: Callable[[Repository], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self.read_sync, work))

    async def write(self, work: Callable[[Repository], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self.write_sync, work))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()


def _retryable(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    return code in {"40001", "40P01"}
