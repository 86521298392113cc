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
from sqlalchemy.sql.elements import BooleanClauseList
from sqlalchemy.sql.visitors import replacement_traverse

from glimpse.db.tables import image_members, image_properties, image_tags, images
from glimpse.images import visibility
from glimpse.images.status import UNLISTED
from glimpse.model.context import Viewer
from glimpse.model.images import Image
from glimpse.model.listing import ImageQuery

# the tag a page is walked from (any further tags are EXISTS on image_tags)
TAGGED = image_tags.alias("tagged")
# the caller's memberships the shared part of a page in creation order is walked from
WALKED = image_members.alias("walked")


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
    # a page in creation order with a tag is walked from the tag's index (its rows carry
    # their image's created_at): the images carrying it are not all read and sorted
    by_tag = _in_creation_order(query) and bool(query.tags)
    for n, tag in enumerate(query.tags):
        if by_tag and n == 0:
            conditions.append(TAGGED.c.value == tag)
            continue
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

    if viewer.is_admin:
        parts = [visibility.Part(visibility.listable(query, viewer))]
    else:
        # without a tag, the shared part in creation order is walked from the caller's
        # memberships (they carry their image's created_at), not from every shared image
        walk_members = _in_creation_order(query) and not by_tag
        parts = visibility.listable_parts(query, viewer, WALKED if walk_members else None)
    # a page's ids and sort keys first, then its rows: a part whose index holds every
    # column it filters on finds them without reading one row of images it then drops
    pages = [_part_page(query, conditions, part, marker, by_tag) for part in parts]
    if len(pages) == 1:
        page = pages[0].subquery("page")
    else:
        # each part's first page from its own index, then the best of them
        merged = union_all(*(select(page.subquery()) for page in pages)).subquery("merged")
        page = (
            select(*(merged.c[key.name] for key in _keys(query)))
            .order_by(*_order(query, merged.c))
            .limit(query.limit)
            .subquery("page")
        )
    return (
        select(*columns)
        .join_from(images, page, images.c.id == page.c.id)
        .order_by(*_order(query, page.c))
    )


def _part_page(
    query: ImageQuery,
    conditions: list[ColumnElement[bool]],
    part: visibility.Part,
    marker: Image | None,
    by_tag: bool,
) -> Select[Any]:
    """The ids and sort keys of ``part``'s first page, read from the tag or membership
    rows it is walked from when it is (their copies of the image's id and created_at)."""
    if part.membership is not None:
        return _membership_page(query, [*conditions, part.where], part.membership, marker)
    where = part.where
    source: Any = images.c
    if by_tag:
        # the part's visibility and owner also on the tag rows' copies: its index then
        # holds the part's rows in order (the image's own columns still decide)
        where = and_(where, _on_tag_copies(where))
        source = {"id": TAGGED.c.image_id, "created_at": TAGGED.c.created_at}
    page = _first_page(query, source, marker).where(*conditions, where)
    if by_tag:
        page = page.join_from(TAGGED, images, images.c.id == TAGGED.c.image_id)
    return page


def _membership_page(
    query: ImageQuery,
    conditions: list[ColumnElement[bool]],
    membership: ColumnElement[bool],
    marker: Image | None,
) -> Select[Any]:
    """The caller's memberships in the page's order, each kept if its image passes
    ``conditions``.

    The image is tested by a subquery per membership, not joined: PostgreSQL cannot
    know that a member's memberships are nearly all of shared images, would expect a
    join to give fewer rows than a page, and would then read every shared image to
    hash them (74,000 at a million images) instead of stopping after a page.
    """
    source = {"id": WALKED.c.image_id, "created_at": WALKED.c.image_created_at}
    passes = (
        select(images.c.id).where(images.c.id == WALKED.c.image_id, *conditions).scalar_subquery()
    )
    return _first_page(query, source, marker).where(membership, passes.is_not(None))


def _first_page(query: ImageQuery, source: Any, marker: Image | None) -> Select[Any]:
    """The ids and sort keys from ``source``, after ``marker``, in order, one page."""
    keys = [source[key.name].label(key.name) for key in _keys(query)]
    after = [] if marker is None else [_after_marker(query.sort, marker, source)]
    return select(*keys).where(*after).order_by(*_order(query, source)).limit(query.limit)


def _on_tag_copies(part: ColumnElement[bool]) -> ColumnElement[bool]:
    """``part`` on the visibility and owner copied into the tag rows walked."""
    copies: dict[Any, Any] = {
        images.c.visibility: TAGGED.c.visibility,
        images.c.owner: TAGGED.c.owner,
    }

    def copy_of(element: Any, **_: Any) -> Any:
        return copies.get(element)

    terms: list[ColumnElement[Any]] = (
        list(part.clauses) if isinstance(part, BooleanClauseList) else [part]
    )
    adapted = [(term, replacement_traverse(term, {}, copy_of)) for term in terms]
    # only the terms that name them (a membership EXISTS is not repeated)
    return and_(true(), *(new for term, new in adapted if not new.compare(term)))


def _in_creation_order(query: ImageQuery) -> bool:
    """Whether the page is ordered by created_at alone, or then by id the same way."""
    ((first, direction), *rest) = query.sort
    return first == "created_at" and rest in ([], [("id", direction)])


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


def _after_marker(sort: list[tuple[str, str]], marker: Image, source: Any) -> ColumnElement[bool]:
    """Rows strictly after ``marker`` in the given order (keyset pagination), with NULL
    as the smallest value; ``source`` names the columns compared."""
    clauses: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, direction in sort:
        col = source[key]
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
    col, value = source[key], getattr(marker, key)
    if value is not None and direction == "asc":
        return and_(col >= value, or_(*clauses))
    if value is not None and not col.nullable:
        return and_(col <= value, or_(*clauses))
    return or_(*clauses)
