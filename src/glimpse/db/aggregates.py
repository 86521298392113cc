"""JSON aggregates that read the same on every database glimpse runs on.

A record's small child rows (an image's properties, tags, stores) come back as JSON text
in a column of the record's own row, so one statement, one round trip, reads both:
PostgreSQL's ``json_object_agg``/``json_agg``, SQLite's ``json_group_object``/
``json_group_array``. Each yields NULL over no rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class json_object_of(FunctionElement[str]):
    """``{name: value, ...}`` of the rows: JSON text."""

    type = Text()
    inherit_cache = True
    name = "json_object_of"


class json_array_of(FunctionElement[str]):
    """``[value, ...]`` of the rows: JSON text."""

    type = Text()
    inherit_cache = True
    name = "json_array_of"


class json_tuple(FunctionElement[Any]):
    """``[a, b, ...]`` of one row: an element for :class:`json_array_of`."""

    inherit_cache = True
    name = "json_tuple"


def _arguments(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(json_object_of, "postgresql")
def _object_pg(element: json_object_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_object_agg({_arguments(element, compiler, **kw)}) AS TEXT)"


@compiles(json_object_of, "sqlite")
def _object_sqlite(element: json_object_of, compiler: Any, **kw: Any) -> str:
    return f"json_group_object({_arguments(element, compiler, **kw)})"


@compiles(json_array_of, "postgresql")
def _array_pg(element: json_array_of, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_agg({_arguments(element, compiler, **kw)}) AS TEXT)"


@compiles(json_array_of, "sqlite")
def _array_sqlite(element: json_array_of, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({_arguments(element, compiler, **kw)})"


@compiles(json_tuple, "postgresql")
def _tuple_pg(element: json_tuple, compiler: Any, **kw: Any) -> str:
    return f"json_build_array({_arguments(element, compiler, **kw)})"


@compiles(json_tuple, "sqlite")
def _tuple_sqlite(element: json_tuple, compiler: Any, **kw: Any) -> str:
    return f"json_array({_arguments(element, compiler, **kw)})"
