"""Who can see an image: Glance's visibility rule, in its three forms side by side.

- :func:`can_see`: one image already read (show, update, delete, members, a marker).
  An image without an owner is visible to everyone, as in Glance's database layer.
- :func:`listable`: the same rule as SQL for the list, narrowed by the list's
  ``visibility`` and ``member_status``. As in Glance's list, an owner-less image is
  listed like one of a project nobody is in (public, community, or shared with the
  caller), where :func:`can_see` lets anyone see it.
- :func:`policy_target`: what oslo.policy rules see of an image once it was found visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, FromClause, and_, exists, false, or_, true

from glimpse.db.tables import image_members, images
from glimpse.model.context import RequestContext, Viewer
from glimpse.model.images import Image
from glimpse.model.listing import ImageQuery

# visible to every project
OPEN_TO_ALL = ("public", "community")


def can_see(image: Image, viewer: Viewer, *, is_member: Callable[[], bool]) -> bool:
    """``is_member`` is asked last, only for a ``shared`` image of another project."""
    if viewer.is_admin or image.owner is None:
        return True
    if image.visibility in OPEN_TO_ALL:
        return True
    if viewer.project is None:
        return False
    if image.owner == viewer.project:
        return True
    return image.visibility == "shared" and is_member()


def listable(query: ImageQuery, viewer: Viewer) -> ColumnElement[bool]:
    """Glance's list: what the caller may list, narrowed by ``visibility`` (a value
    outside the four matches nothing; ``all`` keeps everything). Without one, only the
    caller's own community images are listed."""
    vis = images.c.visibility
    project = viewer.project
    owned = images.c.owner == project if project is not None else false()
    if viewer.is_admin:
        allowed: ColumnElement[bool] = true()
    else:
        membership = _member_of(query, project) if project is not None else false()
        allowed = or_(vis.in_(OPEN_TO_ALL), owned, and_(vis == "shared", membership))
    if query.visibility is None:
        return and_(allowed, or_(vis != "community", owned))
    if query.visibility == "all":
        return allowed
    return and_(allowed, vis == query.visibility)


class Part(NamedTuple):
    where: ColumnElement[bool]
    # the caller's rows of the ``members`` given, when the part is walked from them
    membership: ColumnElement[bool] | None = None


def listable_parts(
    query: ImageQuery, viewer: Viewer, members: FromClause | None = None
) -> list[Part]:
    """:func:`listable` for a non-admin caller as disjoint parts whose union it is: the
    caller's own images, then others' public, community and shared-with-the-caller
    ones. Each part pins ``owner`` or ``visibility`` to one value, so an index on that
    column and a sort key gives its rows in order (an OR of them would read the whole
    ordered index). Given ``members`` (image_members, walked by the caller and matched
    to the image), the shared part of one ``member_status`` names the caller's rows of
    it instead of testing a membership, so that their index gives it in order too."""
    vis = images.c.visibility
    project = viewer.project
    narrowed = query.visibility not in (None, "all")
    parts: list[Part] = []
    if project is not None:
        own = images.c.owner == project
        parts.append(Part(and_(own, vis == query.visibility) if narrowed else own))
        others: ColumnElement[bool] = or_(images.c.owner != project, images.c.owner.is_(None))
    else:
        others = true()
    for kind in ("public", "community", "shared"):
        if (query.visibility is None and kind == "community") or (
            narrowed and query.visibility != kind
        ):
            continue
        if kind != "shared":
            parts.append(Part(and_(vis == kind, others)))
        elif project is None:
            continue
        elif members is not None and query.member_status != "all":
            rows = and_(members.c.member == project, members.c.status == query.member_status)
            parts.append(Part(and_(vis == kind, others), membership=rows))
        else:
            parts.append(Part(and_(vis == kind, others, _member_of(query, project))))
    return parts or [Part(false())]


def _member_of(query: ImageQuery, project: str) -> ColumnElement[bool]:
    return exists().where(
        image_members.c.image_id == images.c.id,
        image_members.c.member == project,
        *([] if query.member_status == "all" else [image_members.c.status == query.member_status]),
    )


def policy_target(image: Image, context: RequestContext) -> dict[str, Any]:
    """What oslo.policy rules see of an image (Glance's ImageTarget).

    ``member_id`` is the caller's project whenever the image is ``shared`` and not the
    caller's own, as in Glance: such an image is only ever checked once it was found
    visible, i.e. through a membership (or by an admin), so no membership is looked up.
    """
    shared_with_caller = image.visibility == "shared" and image.owner != context.project_id
    return {
        "project_id": image.owner,
        "owner": image.owner,
        "member_id": context.project_id if shared_with_caller else None,
        "visibility": image.visibility,
    }
