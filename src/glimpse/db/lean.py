"""The hottest reads, run on the driver's own cursor on PostgreSQL.

A read of one image by id is one round trip, yet SQLAlchemy's execution around it (its
execution context, cursor result and row objects) cost as much CPU again as psycopg's
(~225 µs of ~475 µs a lookup, in-process); a first list page of 25 a quarter of its CPU.
A statement is compiled once (the constants it carries, IN lists too, rendered then);
when none of its parameters or columns needs a conversion by SQLAlchemy's types (checked
then), later calls send its SQL straight to psycopg's cursor, in the unit of work's
greenlet, and get plain values back — the same values SQLAlchemy would give, since it
would convert none. Any other statement, and SQLite (whose driver is in-process), take
SQLAlchemy's path.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.util import await_


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    defaults: dict[str, Any]


# (the module-level lookups and the lists kept by images/repository.py: a statement and
# its dialect are hashed by identity, and kept alive while their compiled form is)
@functools.lru_cache(maxsize=64)
def _compiled(statement: Select[Any], dialect: Dialect) -> _Compiled | None:
    """``statement``'s SQL for the driver, or None when it needs SQLAlchemy's
    conversions."""
    compiled = statement.compile(dialect=dialect)
    names = compiled.bind_names  # each parameter -> its name in the SQL
    columns = compiled._result_columns
    converts = (
        dialect.paramstyle != "pyformat"
        or any(
            (bind.expanding and bind.value is None)  # a list the caller gives each time
            or bind.callable
            or bind.type._cached_bind_processor(dialect)
            for bind in names
        )
        or any(column[3]._cached_result_processor(dialect, None) for column in columns)
    )
    if converts:
        return None
    values = {name: bind.value for bind, name in names.items()}
    sql = compiled.string
    if any(bind.expanding for bind in names):
        # IN (a constant list): rendered once, as SQLAlchemy renders it each time
        expanded = compiled._process_parameters_for_postcompile(values)
        sql, values = expanded.statement, dict(expanded.parameters)
    return _Compiled(sql, tuple(column[0] for column in columns), values)


def first(
    conn: Connection, statement: Select[Any], params: dict[str, Any]
) -> dict[str, Any] | None:
    """The first row of ``statement`` as a dict of its columns, or None."""
    found = _rows(conn, statement, params, one=True)
    return found[0] if found else None


def rows(
    conn: Connection, statement: Select[Any], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every row of ``statement``, each as a dict of its columns."""
    return _rows(conn, statement, params or {}, one=False)


def _rows(
    conn: Connection, statement: Select[Any], params: dict[str, Any], *, one: bool
) -> list[dict[str, Any]]:
    lean = None
    if conn.dialect.name == "postgresql" and conn.dialect.is_async:
        lean = _compiled(statement, conn.dialect)
    if lean is None:
        result = conn.execute(statement, params)
        if one:
            row = result.first()
            return [] if row is None else [row._asdict()]
        return [row._asdict() for row in result]
    values = {**lean.defaults, **params}
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        cursor = driver.cursor()
        await_(cursor.execute(lean.sql, values))
        found = [await_(cursor.fetchone())] if one else await_(cursor.fetchall())
        await_(cursor.close())
    except conn.dialect.loaded_dbapi.Error as exc:
        if driver.broken or driver.closed:
            conn.invalidate()  # as SQLAlchemy does on a disconnect: never pooled again
        raise DBAPIError.instance(lean.sql, values, exc, conn.dialect.loaded_dbapi.Error) from exc
    names = lean.names
    return [dict(zip(names, row, strict=True)) for row in found if row is not None]
