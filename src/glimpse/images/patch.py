"""Applying JSON-patch operations to an image: the rules of PATCH /v2/images/{id}.

Glance checks a PATCH in two phases, and so does glimpse: while the body is parsed,
each operation in turn gets its static checks (:func:`check_op`: read-only and reserved
names, the value against the schema); then :func:`apply_patch` applies the operations in
order against the image. The first failure decides the status; nothing is saved unless
every operation passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glimpse.errors import Conflict, InvalidInput, LimitExceeded, NotPermitted
from glimpse.images.attributes import (
    PATCH_BASE,
    check_patchable,
    check_property_size,
    counted_properties,
    within_quota,
)
from glimpse.images.locations import LocationEdit
from glimpse.images.protections import Operation
from glimpse.images.schema import Schemas
from glimpse.images.status import FORMATS_EDITABLE
from glimpse.model.images import Image


@dataclass(frozen=True, slots=True)
class PatchOp:
    op: str  # add | remove | replace
    name: str  # the single path segment (the attribute or property name)
    value: Any = None
    # v2.0 media type: `add` of an existing property is a conflict, not an overwrite
    strict_add: bool = False
    # the second path segment, where a path has one (`/locations/<N or ->`)
    position: str | None = None


@dataclass(slots=True)
class Changes:
    base: dict[str, Any] = field(default_factory=dict)
    set_properties: dict[str, str | None] = field(default_factory=dict)
    removed_properties: set[str] = field(default_factory=set)
    tags: list[str] | None = None

    @property
    def empty(self) -> bool:
        return not (self.base or self.set_properties or self.removed_properties) and (
            self.tags is None
        )


@dataclass(frozen=True, slots=True)
class PatchLimits:
    property_quota: int
    tag_quota: int


def unique_tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


# min_ram and min_disk are INTEGER columns; Glance refuses what they cannot hold
MAX_INTEGER = 2**31 - 1


def check_integer_range(name: str, value: Any) -> None:
    if name not in ("min_ram", "min_disk") or not isinstance(value, int):
        return
    if value < 0:
        raise InvalidInput(
            f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value"
        )
    if value > MAX_INTEGER:
        raise InvalidInput(f"'{name}' value out of range, must not exceed {MAX_INTEGER}.")


def check_op(op: PatchOp, schemas: Schemas) -> None:
    """The checks Glance makes while parsing one operation: 403 for names a caller may
    never write, 400 for a value the schema refuses."""
    check_patchable(op.name)
    if op.op == "remove":
        return
    if op.name == "locations":
        # `add /locations/N` carries one location, `replace /locations` the whole list
        schemas.validate_image({"locations": [op.value] if op.op == "add" else op.value})
    else:
        schemas.validate_image_attribute(op.name, op.value)
        if op.name not in PATCH_BASE:
            check_property_size(op.name, op.value)


def apply_patch(
    image: Image,
    ops: list[PatchOp],
    *,
    limits: PatchLimits,
    may: Callable[[str], bool],
    authorize: Callable[[str], None],
    is_admin: bool,
    protect: Callable[[str, Operation], None] | None = None,
    unseen_properties: int = 0,
    locations: LocationEdit | None = None,
) -> Changes:
    """Apply ``ops`` (already through :func:`check_op`) to ``image`` in memory.

    ``may(rule)`` answers policy questions (publicize_image, communitize_image);
    ``authorize(rule)`` raises unless the caller may change the image by that rule;
    ``protect(name, operation)`` raises unless property protections let the caller create,
    update or delete that property (``image.properties`` then holds only those the caller
    may read; ``unseen_properties`` counts the others, for the quota). ``locations``
    takes the location operations (None: locations are not shown, and not edited).
    Each operation is checked in Glance's order, so the first refusal decides the
    answer.
    """
    changes = Changes()
    original = set(image.properties)
    properties = dict(image.properties)
    for op in ops:
        name = op.name
        if name == "locations":
            _locations(op, authorize, locations)
            continue
        if op.op == "replace" and name == "owner" and not is_admin:
            raise NotPermitted("Owner can't be updated by non admin.")
        if name == "visibility" and op.op != "remove":
            # asked whether or not the value changes, as Glance does
            if op.value == "public" and not may("publicize_image"):
                raise NotPermitted("You are not authorized to complete publicize_image action.")
            if op.value == "community" and not may("communitize_image"):
                raise NotPermitted("You are not authorized to complete communitize_image action.")
        authorize("modify_image")

        present = name in PATCH_BASE or name in properties
        if op.op == "remove":
            if name in PATCH_BASE:
                raise NotPermitted(f"Property {name} may not be removed.")
            if not present:
                raise Conflict(f"Property {name} does not exist.")
            if protect is not None:
                protect(name, "delete")
            del properties[name]
            changes.set_properties.pop(name, None)
            changes.removed_properties.add(name)
            continue
        if op.op == "replace" and not present:
            raise Conflict(f"Property {name} does not exist.")
        if op.op == "add" and present and op.strict_add:
            raise Conflict(f"Property {name} already present.")
        if name in PATCH_BASE:
            _set_base(image, changes, name, op.value, is_admin=is_admin, limits=limits)
            continue
        if protect is not None:
            protect(name, "update" if present else "create")
        properties[name] = op.value
        changes.set_properties[name] = op.value
        changes.removed_properties.discard(name)

    # only a patch that brings a new name is held to the quota (an image over a lowered
    # quota can still be edited)
    if set(properties) - original and not within_quota(
        counted_properties(properties) + unseen_properties, limits.property_quota
    ):
        raise LimitExceeded(f"Maximum number of properties exceeded ({limits.property_quota}).")
    image.properties = properties
    return changes


def _locations(op: PatchOp, authorize: Callable[[str], None], edit: LocationEdit | None) -> None:
    """Location edits need ``show_multiple_locations``; Glance asks their policy first."""
    if op.op == "replace" and not op.value:
        raise NotPermitted("Cannot set locations to empty list.")
    authorize("delete_image_location" if op.op == "remove" else "set_image_location")
    if edit is None:
        verb = {"add": "add", "remove": "remove", "replace": "update"}[op.op]
        raise NotPermitted(f"It's not allowed to {verb} locations if locations are invisible.")
    if op.op == "add":
        edit.add(op.position, op.value)
    elif op.op == "replace":
        edit.replace(op.value)
    else:
        edit.remove(op.position)


def _set_base(
    image: Image,
    changes: Changes,
    name: str,
    value: Any,
    *,
    is_admin: bool,
    limits: PatchLimits,
) -> None:
    if name == "tags":
        # Glance counts the list as sent, duplicates included
        if not within_quota(len(value), limits.tag_quota):
            raise LimitExceeded(f"Maximum number of tags exceeded ({limits.tag_quota}).")
        image.tags = unique_tags(value)
        changes.tags = image.tags
        return
    if name == "owner" and not is_admin and value != image.owner:
        # `add /owner` (v2.1): Glance lets an owner give the image away; glimpse does not
        raise NotPermitted("Owner can't be updated by non admin.")
    if name in ("disk_format", "container_format") and image.status not in FORMATS_EDITABLE:
        raise NotPermitted(f"Attribute {name} can be only replaced for a queued image.")
    check_integer_range(name, value)
    setattr(image, name, value)
    changes.base[name] = value
