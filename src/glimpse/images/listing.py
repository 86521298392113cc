"""The SQL of the image list: filters, the visibility rule, order and keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    not_,
    or_,
    select,
    true,
    union_all,
)

from glimpse.db.tables import image_properties, image_tags, images
from glimpse.images import visibility
from glimpse.images.status import UNLISTED
from glimpse.model.context import Viewer
from glimpse.model.images import Image
from glimpse.model.listing import ImageQuery


def statement(
    query: ImageQuery, viewer: Viewer, marker: Image | None, columns: Sequence[Any]
) -> Select[Any]:
    """One page of ``columns`` of the images ``query`` asks for that ``viewer`` may list,
    after ``marker``."""
    conditions: list[ColumnElement[bool]] = [
        images.c.deleted == false(),
        images.c.status.not_in(UNLISTED),
        images.c.os_hidden == (true() if query.os_hidden else false()),
    ]
    for column, accepted in query.values.items():
        col = images.c[column]
        conditions.append(col == accepted[0] if len(accepted) == 1 else col.in_(accepted))
    for tf in query.times:
        col = images.c[tf.column]
        conditions.append(
            {
                "gt": col > tf.value,
                "gte": col >= tf.value,
                "lt": col < tf.value,
                "lte": col <= tf.value,
                "eq": col == tf.value,
                "neq": col != tf.value,
            }[tf.op]
        )
    for column, (low, high) in query.ranges.items():
        if low is not None:
            conditions.append(images.c[column] >= low)
        if high is not None:
            conditions.append(images.c[column] <= high)
    if query.protected is not None:
        conditions.append(images.c.protected == (true() if query.protected else false()))
    for tag in query.tags:
        conditions.append(
            exists().where(image_tags.c.image_id == images.c.id, image_tags.c.value == tag)
        )
    for name, value in query.properties.items():
        conditions.append(
            exists().where(
                image_properties.c.image_id == images.c.id,
                image_properties.c.name == name,
                image_properties.c.value == value,
            )
        )
    if marker is not None:
        conditions.append(_after_marker(query.sort, marker))

    if viewer.is_admin:
        parts = [visibility.listable(query, viewer)]
    else:
        parts = visibility.listable_parts(query, viewer)
    # a page's ids and sort keys first, then its rows: a part whose index holds every
    # column it filters on finds them without reading one row of images it then drops
    keys = _keys(query)
    pages = [
        select(*keys).where(*conditions, part).order_by(*_order(query, images.c)).limit(query.limit)
        for part in parts
    ]
    if len(pages) == 1:
        page = pages[0].subquery("page")
    else:
        # each part's first page from its own index, then the best of them
        merged = union_all(*(select(page.subquery()) for page in pages)).subquery("merged")
        page = (
            select(*(merged.c[key.name] for key in keys))
            .order_by(*_order(query, merged.c))
            .limit(query.limit)
            .subquery("page")
        )
    return (
        select(*columns)
        .join_from(images, page, images.c.id == page.c.id)
        .order_by(*_order(query, page.c))
    )


def _keys(query: ImageQuery) -> list[ColumnElement[Any]]:
    """The id and the sort keys: what a page is chosen and ordered by."""
    names = ["id", *(key for key, _ in query.sort if key != "id")]
    return [images.c[name] for name in names]


def _order(query: ImageQuery, source: Any) -> list[ColumnElement[Any]]:
    order = []
    for key, direction in query.sort:
        col = source[key]
        # NULL sorts as the smallest value on every database
        order.append(col.asc().nulls_first() if direction == "asc" else col.desc().nulls_last())
    return order


def _after_marker(sort: list[tuple[str, str]], marker: Image) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the given order (keyset pagination), with NULL
    as the smallest value."""
    clauses: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, direction in sort:
        col = images.c[key]
        value = getattr(marker, key)
        if direction == "asc":
            beyond = col.is_not(None) if value is None else col > value
            same = col.is_(None) if value is None else col == value
        else:
            beyond = (
                false()
                if value is None
                else col < value
                if not col.nullable
                else or_(col < value, col.is_(None))
            )
            same = col.is_(None) if value is None else col == value
        clauses.append(and_(*equal_so_far, beyond))
        equal_so_far.append(same)
    if not clauses:
        return not_(true())
    # the same rows, with a bound on the first key an index can seek to (the OR above
    # only filters): ascending, everything after a value is at or above it; descending,
    # at or below it when the key is never NULL
    key, direction = sort[0]
    col, value = images.c[key], getattr(marker, key)
    if value is not None and direction == "asc":
        return and_(col >= value, or_(*clauses))
    if value is not None and not col.nullable:
        return and_(col <= value, or_(*clauses))
    return or_(*clauses)
