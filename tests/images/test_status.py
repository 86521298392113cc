"""glimpse.images.status: what each move says from every status — go ahead, nothing to do
(an idempotent move at its target), or Glance's refusal (error class and words), with the
``gone`` answer for an image that is deleted or absent."""

from __future__ import annotations

import pytest

from glimpse.errors import (
    Conflict,
    GlimpseError,
    ImageDeleted,
    InvalidStatusTransition,
    NotFound,
    NotPermitted,
    RefusedInStatus,
)
from glimpse.images.status import Move

ID = "6f1c1f0e-6d57-4bd4-9a3e-2f8c0c7f6a11"

LIVE = ["queued", "saving", "uploading", "importing", "active", "deactivated", "killed"]
GONE = ["pending_delete", "deleted"]

Outcome = bool | tuple[type[GlimpseError], str]


def transition(current: str, target: str) -> Outcome:
    return (
        InvalidStatusTransition,
        f"Image status transition from {current} to {target} is not allowed",
    )


def refused(action: str, current: str) -> Outcome:
    return (RefusedInStatus, f"Not allowed to {action} image in status '{current}'")


NOT_FOUND: Outcome = (NotFound, f"No image found with ID {ID}")
DELETED_DURING_UPLOAD: Outcome = (
    ImageDeleted,
    f"Image {ID} could not be found after upload. It may have been deleted during the upload.",
)
DELETED: Outcome = (ImageDeleted, f"Image {ID} was deleted.")


def outcomes(go: set[str], stay: set[str], otherwise: dict[str, Outcome]) -> dict[str, Outcome]:
    table: dict[str, Outcome] = dict(otherwise)
    table.update({status: True for status in go})
    table.update({status: False for status in stay})
    return table


# what each move says from each status: True (move), False (already there), or the error
EXPECTED: dict[Move, dict[str, Outcome]] = {
    Move.START_UPLOAD: outcomes(
        {"queued"},
        set(),
        {
            **{status: transition(status, "saving") for status in LIVE},
            **{status: DELETED for status in GONE},
        },
    ),
    Move.FINISH_UPLOAD: outcomes(
        {"saving"}, set(), {status: DELETED_DURING_UPLOAD for status in LIVE + GONE}
    ),
    Move.ABANDON_UPLOAD: outcomes(
        {"saving"},
        set(),
        {
            **{status: transition(status, "queued") for status in LIVE},
            **{status: NOT_FOUND for status in GONE},
        },
    ),
    Move.DEACTIVATE: outcomes(
        {"active"},
        {"deactivated"},
        {
            **{status: refused("deactivate", status) for status in LIVE},
            **{status: NOT_FOUND for status in GONE},
        },
    ),
    Move.REACTIVATE: outcomes(
        {"deactivated"},
        {"active"},
        {
            **{status: refused("reactivate", status) for status in LIVE},
            **{status: NOT_FOUND for status in GONE},
        },
    ),
    Move.DELETE: outcomes(set(LIVE), set(), {status: NOT_FOUND for status in GONE}),
    **{
        move: outcomes(
            sources,
            set(),
            {
                **{status: transition(status, target) for status in LIVE},
                **{status: NOT_FOUND for status in GONE},
            },
        )
        for move, sources, target in [
            (Move.START_STAGE, {"queued"}, "uploading"),
            (Move.ABANDON_STAGE, {"uploading"}, "queued"),
            (Move.START_IMPORT, {"queued", "uploading"}, "importing"),
            (Move.FINISH_IMPORT, {"importing"}, "active"),
            (Move.FAIL_IMPORT, {"importing"}, "queued"),
            (Move.ACTIVATE_WITH_LOCATION, {"queued"}, "active"),
        ]
    },
    # delayed delete
    Move.DELAY_DELETE: outcomes(set(LIVE), set(), {status: NOT_FOUND for status in GONE}),
    Move.RESTORE: outcomes(
        {"pending_delete"},
        set(),
        {status: transition(status, "active") for status in [*LIVE, "deleted"]},
    ),
    Move.SCRUB: outcomes(
        {"pending_delete"}, set(), {status: NOT_FOUND for status in [*LIVE, "deleted"]}
    ),
}

CASES = [
    pytest.param(move, status, outcome, id=f"{move.name}-{status}")
    for move, table in EXPECTED.items()
    for status, outcome in table.items()
]
REFUSALS = [case for case in CASES if not isinstance(case.values[2], bool)]


def test_the_table_covers_every_move_and_status() -> None:
    assert set(EXPECTED) == set(Move)
    for table in EXPECTED.values():
        assert sorted(table) == sorted(LIVE + GONE)


@pytest.mark.parametrize(("move", "current", "outcome"), CASES)
def test_check(move: Move, current: str, outcome: Outcome) -> None:
    if isinstance(outcome, bool):
        assert move.check(ID, current) is outcome
        return
    kind, message = outcome
    with pytest.raises(GlimpseError) as raised:
        move.check(ID, current)
    assert type(raised.value) is kind
    assert raised.value.message == message
    assert str(raised.value) == message


@pytest.mark.parametrize(("move", "current", "outcome"), REFUSALS)
def test_refusal_is_what_check_raises(move: Move, current: str, outcome: Outcome) -> None:
    """``refusal`` (what a lost compare-and-set answers) says what ``check`` would."""
    assert isinstance(outcome, tuple)
    kind, message = outcome
    refusal = move.refusal(ID, current)
    assert (type(refusal), refusal.message) == (kind, message)


@pytest.mark.parametrize(
    ("move", "outcome"),
    [
        (Move.START_UPLOAD, DELETED),
        (Move.FINISH_UPLOAD, DELETED_DURING_UPLOAD),
        (Move.ABANDON_UPLOAD, NOT_FOUND),
        (Move.DEACTIVATE, NOT_FOUND),
        (Move.REACTIVATE, NOT_FOUND),
        (Move.DELETE, NOT_FOUND),
    ],
    ids=lambda value: value.name if isinstance(value, Move) else "",
)
def test_an_absent_image_gets_the_gone_answer(move: Move, outcome: Outcome) -> None:
    assert isinstance(outcome, tuple)
    refusal = move.refusal(ID, None)
    assert (type(refusal), refusal.message) == outcome


def test_glance_words() -> None:
    """Two of Glance's messages, spelled out whole."""
    with pytest.raises(
        RefusedInStatus, match=r"^Not allowed to deactivate image in status 'queued'$"
    ):
        Move.DEACTIVATE.check(ID, "queued")
    with pytest.raises(
        InvalidStatusTransition,
        match=r"^Image status transition from active to saving is not allowed$",
    ):
        Move.START_UPLOAD.check(ID, "active")


def test_refusals_are_the_right_kinds_of_error() -> None:
    """Glance answers a refused (de)activation with 403, a bad transition with 409 and a
    gone image with 404: the error classes carry that."""
    assert isinstance(Move.REACTIVATE.refusal(ID, "queued"), NotPermitted)
    assert isinstance(Move.START_UPLOAD.refusal(ID, "active"), Conflict)
    assert isinstance(Move.DEACTIVATE.refusal(ID, "deleted"), NotFound)
