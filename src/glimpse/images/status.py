"""The image status machine, as one table.

Every status change glimpse makes is one of the moves below, and goes through
``ImageRepository.move``: a compare-and-set (``UPDATE … WHERE status IN (the move's
sources)``), so two requests racing on one image, on any number of nodes, cannot both
win. A new kind of change (import's, say) is a new row here, nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from glimpse.errors import (
    GlimpseError,
    ImageDeleted,
    InvalidStatusTransition,
    NotFound,
    RefusedInStatus,
)
from glimpse.model.images import Status

S = Status

# Statuses in which an image exists for the API; in the others it is 404 everywhere.
LIVE: frozenset[Status] = frozenset(
    {S.QUEUED, S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DEACTIVATED, S.KILLED}
)
GONE: frozenset[Status] = frozenset(Status) - LIVE

# Statuses in which disk_format / container_format may still be changed.
FORMATS_EDITABLE: frozenset[Status] = frozenset({S.QUEUED, S.IMPORTING})

# Statuses a list never shows.
UNLISTED: frozenset[Status] = frozenset({S.KILLED})


# (error, message): what a caller is told; the message may name {image_id}, {current},
# {target} and {action}
Answer = tuple[type[GlimpseError], str]

_TRANSITION: Answer = (
    InvalidStatusTransition,
    "Image status transition from {current} to {target} is not allowed",
)
_NOT_FOUND: Answer = (NotFound, "No image found with ID {image_id}")
_REFUSED: Answer = (RefusedInStatus, "Not allowed to {action} image in status '{current}'")
_DELETED_DURING_UPLOAD: Answer = (
    ImageDeleted,
    "Image {image_id} could not be found after upload. It may have been deleted during the upload.",
)


@dataclass(frozen=True, slots=True)
class Rule:
    sources: frozenset[Status]
    target: Status
    # an image already at the target: True → nothing to do (Glance answers success)
    idempotent: bool
    # the image is live but in none of the sources
    refused: Answer
    # the image is gone (deleted meanwhile)
    gone: Answer


class Move(Enum):
    """Every status change glimpse makes: from any of ``sources`` to ``target``."""

    START_UPLOAD = Rule(
        frozenset({S.QUEUED}), S.SAVING, False,
        refused=_TRANSITION, gone=(ImageDeleted, "Image {image_id} was deleted."),
    )  # fmt: skip
    FINISH_UPLOAD = Rule(
        frozenset({S.SAVING}), S.ACTIVE, False,
        refused=_DELETED_DURING_UPLOAD, gone=_DELETED_DURING_UPLOAD,
    )  # fmt: skip
    # an upload failed, or its node died and its lease expired
    ABANDON_UPLOAD = Rule(
        frozenset({S.SAVING}), S.QUEUED, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    # interoperable import: data staged (glance-direct), then a task moves the image
    START_STAGE = Rule(
        frozenset({S.QUEUED}), S.UPLOADING, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    ABANDON_STAGE = Rule(
        frozenset({S.UPLOADING}), S.QUEUED, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    START_IMPORT = Rule(
        frozenset({S.QUEUED, S.UPLOADING}), S.IMPORTING, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    FINISH_IMPORT = Rule(
        frozenset({S.IMPORTING}), S.ACTIVE, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    # a failed import returns the image to queued, as Glance does, with the failure recorded
    FAIL_IMPORT = Rule(
        frozenset({S.IMPORTING}), S.QUEUED, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    # a location added to a queued image (PATCH, show_multiple_locations): its data is there
    ACTIVATE_WITH_LOCATION = Rule(
        frozenset({S.QUEUED}), S.ACTIVE, False, refused=_TRANSITION, gone=_NOT_FOUND
    )
    DEACTIVATE = Rule(frozenset({S.ACTIVE}), S.DEACTIVATED, True, refused=_REFUSED, gone=_NOT_FOUND)
    REACTIVATE = Rule(frozenset({S.DEACTIVATED}), S.ACTIVE, True, refused=_REFUSED, gone=_NOT_FOUND)
    DELETE = Rule(LIVE, S.DELETED, False, refused=_NOT_FOUND, gone=_NOT_FOUND)
    # delayed_delete: the data stays until the scrubber's SCRUB, or a RESTORE brings it back
    DELAY_DELETE = Rule(LIVE, S.PENDING_DELETE, False, refused=_NOT_FOUND, gone=_NOT_FOUND)
    RESTORE = Rule(
        frozenset({S.PENDING_DELETE}), S.ACTIVE, False, refused=_TRANSITION, gone=_TRANSITION
    )
    SCRUB = Rule(
        frozenset({S.PENDING_DELETE}), S.DELETED, False, refused=_NOT_FOUND, gone=_NOT_FOUND
    )

    @property
    def sources(self) -> frozenset[Status]:
        return self.value.sources

    @property
    def target(self) -> Status:
        return self.value.target

    def refusal(self, image_id: str, current: str | None) -> GlimpseError:
        """What the caller is told when this move finds the image in ``current`` (None:
        no such image)."""
        rule = self.value
        kind, message = rule.gone if current is None or current in GONE else rule.refused
        return kind(
            message.format(
                image_id=image_id, current=current, target=rule.target, action=self.name.lower()
            )
        )

    def check(self, image_id: str, current: str) -> bool:
        """Whether the move is to be made from ``current``: True if so, False when the
        image is already where an idempotent move leads; otherwise the refusal."""
        if current in self.value.sources:
            return True
        if self.value.idempotent and current == self.value.target:
            return False
        raise self.refusal(image_id, current)
