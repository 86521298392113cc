"""The hottest lookups, run on the driver's own cursor on PostgreSQL.

A read of one image by id is one round trip, yet SQLAlchemy's execution around it (its
execution context, cursor result and row objects) cost as much CPU again as psycopg's
(~225 µs of ~475 µs a lookup, in-process). A statement is compiled once; when none of its
parameters or columns needs a conversion by SQLAlchemy's types (checked then), later
calls send its SQL straight to psycopg's cursor, in the unit of work's greenlet, and get
plain values back — the same values SQLAlchemy would give, since it would convert none.
Any other statement, and SQLite (whose driver is in-process), take SQLAlchemy's path.
"""

from __future__ import annotations

import threading
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


# statement -> its compiled form, or None when it needs SQLAlchemy's conversions; the
# statements are module-level constants, so this holds a handful
_COMPILED: dict[int, tuple[Select[Any], _Compiled | None]] = {}
_LOCK = threading.Lock()


def _compiled(statement: Select[Any], dialect: Dialect) -> _Compiled | None:
    found = _COMPILED.get(id(statement))
    if found is not None and found[0] is statement:
        return found[1]
    compiled = statement.compile(dialect=dialect)
    binds = compiled.binds.values()
    columns = compiled._result_columns
    converts = (
        dialect.paramstyle != "pyformat"
        or any(bind.expanding or bind.type._cached_bind_processor(dialect) for bind in binds)
        or any(column[3]._cached_result_processor(dialect, None) for column in columns)
    )
    lean = None
    if not converts:
        lean = _Compiled(
            compiled.string,
            tuple(column[0] for column in columns),
            {bind.key: bind.value for bind in binds if bind.value is not None},
        )
    with _LOCK:
        _COMPILED[id(statement)] = (statement, lean)
    return lean


def first(
    conn: Connection, statement: Select[Any], params: dict[str, Any]
) -> dict[str, Any] | None:
    """The first row of ``statement`` as a dict of its columns, or None."""
    lean = None
    if conn.dialect.name == "postgresql" and conn.dialect.is_async:
        lean = _compiled(statement, conn.dialect)
    if lean is None:
        row = conn.execute(statement, params).first()
        return None if row is None else row._asdict()
    values = {**lean.defaults, **params} if lean.defaults else params
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        cursor = driver.cursor()
        await_(cursor.execute(lean.sql, values))
        found = await_(cursor.fetchone())
        await_(cursor.close())
    except conn.dialect.loaded_dbapi.Error as exc:
        if driver.broken or driver.closed:
            conn.invalidate()  # as SQLAlchemy does on a disconnect: never pooled again
        raise DBAPIError.instance(lean.sql, values, exc, conn.dialect.loaded_dbapi.Error) from exc
    return None if found is None else dict(zip(lean.names, found, strict=True))
