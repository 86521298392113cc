"""The status machine walked through the API: for every move in ``images/status.py``'s
table and every status an image can be in, the API call that makes the move either
makes it (the status ends at the move's target) or answers what Glance answers.

Glance's answers are written out below, one per (call, status); the test then checks
that the table agrees with them: a call succeeds exactly where the table allows its move
(or where the image is already at the target of an idempotent move).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from glimpse.images.status import GONE, Move
from glimpse.model.images import Status
from tests.support.images import OCTETS, active, create, show, upload
from tests.support.records import Records

S = Status

# Glance 33's status codes, as it answered them (statuses glimpse does not reach yet were
# written into Glance's database): (API call, status the image is in) → code
GLANCE: dict[str, dict[Status, int]] = {
    "upload": {
        S.QUEUED: 204, S.SAVING: 409, S.UPLOADING: 409, S.IMPORTING: 409, S.ACTIVE: 409,
        S.DEACTIVATED: 409, S.KILLED: 409, S.PENDING_DELETE: 404, S.DELETED: 404,
    },
    "deactivate": {
        S.QUEUED: 403, S.SAVING: 403, S.UPLOADING: 403, S.IMPORTING: 403, S.ACTIVE: 204,
        S.DEACTIVATED: 204, S.KILLED: 403, S.PENDING_DELETE: 404, S.DELETED: 404,
    },
    "reactivate": {
        S.QUEUED: 403, S.SAVING: 403, S.UPLOADING: 403, S.IMPORTING: 403, S.ACTIVE: 204,
        S.DEACTIVATED: 204, S.KILLED: 403, S.PENDING_DELETE: 404, S.DELETED: 404,
    },
    "delete": {
        S.QUEUED: 204, S.SAVING: 204, S.UPLOADING: 204, S.IMPORTING: 204, S.ACTIVE: 204,
        S.DEACTIVATED: 204, S.KILLED: 204, S.PENDING_DELETE: 404, S.DELETED: 404,
    },
}  # fmt: skip

# the move each call makes
CALLS: dict[str, Move] = {
    "upload": Move.START_UPLOAD,
    "deactivate": Move.DEACTIVATE,
    "reactivate": Move.REACTIVATE,
    "delete": Move.DELETE,
}


async def image_in(client: httpx.AsyncClient, records: Records, status: Status) -> str:
    """An image in ``status``: through the API where it leads there, else written in."""
    if status is S.ACTIVE:
        return str((await active(client))["id"])
    image_id = str((await create(client))["id"])
    if status is S.DEACTIVATED:
        await upload(client, image_id, b"data")
        assert (await deactivate(client, image_id)).status_code == 204
    elif status is S.DELETED:
        assert (await client.delete(f"/v2/images/{image_id}")).status_code == 204
    elif status is not S.QUEUED:
        records.update_image(image_id, status=status, deleted=status in GONE)
    return image_id


async def deactivate(client: httpx.AsyncClient, image_id: str) -> httpx.Response:
    return await client.post(f"/v2/images/{image_id}/actions/deactivate")


async def call(client: httpx.AsyncClient, name: str, image_id: str) -> httpx.Response:
    if name == "upload":
        return await upload(client, image_id, b"new data")
    if name == "delete":
        return await client.delete(f"/v2/images/{image_id}")
    return await client.post(f"/v2/images/{image_id}/actions/{name}")


def test_glance_codes_agree_with_the_table() -> None:
    for name, move in CALLS.items():
        for status, code in GLANCE[name].items():
            already_there = move.value.idempotent and status == move.target
            allowed = status in move.sources or already_there
            assert (code < 300) == allowed, (name, status, code)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("name", list(CALLS))
async def test_each_call_from_each_status(
    client: httpx.AsyncClient, records: Records, name: str, status: Status
) -> None:
    image_id = await image_in(client, records, status)
    response = await call(client, name, image_id)
    assert response.status_code == GLANCE[name][status], response.text
    # and in Glance's words
    if response.status_code == 409:
        assert f"Image status transition from {status} to saving is not allowed" in response.text
    elif response.status_code == 403:
        assert f"Not allowed to {name} image in status '{status}'" in response.text
    if response.status_code >= 300:
        if status not in GONE:
            assert (await show(client, image_id))["status"] == status  # nothing changed
        return
    if name == "delete":
        assert (await client.get(f"/v2/images/{image_id}")).status_code == 404
    elif name == "upload":  # saving, then active
        assert (await show(client, image_id))["status"] == S.ACTIVE
    else:
        assert (await show(client, image_id))["status"] == CALLS[name].target


async def test_an_upload_that_fails_is_abandoned_back_to_queued(
    client: httpx.AsyncClient,
) -> None:
    """ABANDON_UPLOAD: saving → queued, when the data is not what was announced."""
    image_id = (await create(client))["id"]
    response = await upload(client, image_id, b"short", **{"x-openstack-image-size": "100"})
    assert response.status_code == 400
    assert (await show(client, image_id))["status"] == Move.ABANDON_UPLOAD.target


async def test_an_upload_whose_image_is_deleted_meanwhile_is_410(
    client: httpx.AsyncClient,
) -> None:
    """FINISH_UPLOAD refused: the image left ``saving`` (deleted) while its data came."""
    image_id = (await create(client))["id"]
    seen: list[Any] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"first part"
        seen.append((await show(client, image_id))["status"])
        assert (await client.delete(f"/v2/images/{image_id}")).status_code == 204
        yield b"second part"

    response = await client.put(f"/v2/images/{image_id}/file", content=body(), headers=OCTETS)
    assert seen == [S.SAVING]
    assert response.status_code == 410, response.text
    assert (await client.get(f"/v2/images/{image_id}")).status_code == 404


async def test_finish_upload_records_what_was_sent(client: httpx.AsyncClient) -> None:
    image_id = (await create(client))["id"]
    assert (await upload(client, image_id, b"payload")).status_code == 204
    image = await show(client, image_id)
    assert image["status"] == Move.FINISH_UPLOAD.target
    assert image["checksum"] == hashlib.md5(b"payload").hexdigest()
