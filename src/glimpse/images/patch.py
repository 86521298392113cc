"""Applying JSON-patch operations to an image: the rules of PATCH /v2/images/{id}.

The API layer parses the body into :class:`PatchOp`; :func:`apply_patch` checks each
operation in order against the image and collects the resulting changes. Nothing is
saved unless every operation passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glimpse.errors import BadRequest, Conflict, Forbidden, RequestEntityTooLarge
from glimpse.images.attributes import PATCH_BASE, check_settable, counted_properties
from glimpse.images.model import Image
from glimpse.images.schema import Schemas
from glimpse.images.status import FORMATS_EDITABLE


@dataclass(frozen=True, slots=True)
class PatchOp:
    op: str  # add | remove | replace
    name: str  # the single path segment (the attribute or property name)
    value: Any = None
    # v2.0 media type: `add` of an existing property is a conflict, not an overwrite
    strict_add: bool = False


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


def check_non_negative(name: str, value: Any) -> None:
    if name in ("min_ram", "min_disk") and isinstance(value, int) and value < 0:
        raise BadRequest(
            f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value"
        )


def apply_patch(
    image: Image,
    ops: list[PatchOp],
    *,
    schemas: Schemas,
    limits: PatchLimits,
    may: Callable[[str], bool],
    is_admin: bool,
) -> Changes:
    """Check ``ops`` against ``image`` and apply them to it in memory.

    ``may(rule)`` answers policy questions (publicize_image, communitize_image).
    """
    changes = Changes()
    properties = dict(image.properties)
    added_properties = 0
    for op in ops:
        name = op.name
        check_settable(name, creating=False)
        if name == "locations":
            raise Forbidden("It's not allowed to add locations if locations are invisible.")
        if op.op in ("add", "replace"):
            schemas.validate_image_attribute(name, op.value)
            check_non_negative(name, op.value)

        if name in PATCH_BASE:
            if op.op == "remove":
                raise Forbidden(f"Property {name} may not be removed.")
            if op.op == "add" and op.strict_add:
                raise Conflict(f"Property {name} already present.")
            _set_base(image, changes, name, op.value, may=may, is_admin=is_admin, limits=limits)
            continue

        present = name in properties
        if op.op == "replace" and not present:
            raise Conflict(f"Property {name} does not exist.")
        if op.op == "remove":
            if not present:
                raise Conflict(f"Property {name} does not exist.")
            del properties[name]
            changes.set_properties.pop(name, None)
            changes.removed_properties.add(name)
            continue
        if op.op == "add" and present and op.strict_add:
            raise Conflict(f"Property {name} already present.")
        if not present:
            added_properties += 1
        properties[name] = op.value
        changes.set_properties[name] = op.value
        changes.removed_properties.discard(name)

    if added_properties and counted_properties(properties) > limits.property_quota:
        raise RequestEntityTooLarge(
            f"Maximum number of properties exceeded ({limits.property_quota})."
        )
    image.properties = properties
    return changes


def _set_base(
    image: Image,
    changes: Changes,
    name: str,
    value: Any,
    *,
    may: Callable[[str], bool],
    is_admin: bool,
    limits: PatchLimits,
) -> None:
    if name == "tags":
        tags = unique_tags(value)
        if len(tags) > limits.tag_quota:
            raise RequestEntityTooLarge(f"Maximum number of tags exceeded ({limits.tag_quota}).")
        image.tags = tags
        changes.tags = tags
        return
    if name == "owner" and not is_admin and value != image.owner:
        raise Forbidden("Owner can't be updated by non admin.")
    if name == "visibility" and value != image.visibility:
        if value == "public" and not may("publicize_image"):
            raise Forbidden("You are not authorized to complete publicize_image action.")
        if value == "community" and not may("communitize_image"):
            raise Forbidden("You are not authorized to complete communitize_image action.")
    if name in ("disk_format", "container_format") and image.status not in FORMATS_EDITABLE:
        raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
    setattr(image, name, value)
    changes.base[name] = value
