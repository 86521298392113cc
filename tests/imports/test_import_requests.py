"""Import requests refused before any job is queued, each with the code Glance gives."""

from __future__ import annotations

from typing import Any

import httpx

from tests.imports.conftest import OWNER, new_image, stage, start_import


def direct(**extra: Any) -> dict[str, Any]:
    return {"method": {"name": "glance-direct"}, **extra}


async def test_bad_import_requests(importer: httpx.AsyncClient) -> None:
    image_id = await new_image(importer)
    assert (await stage(importer, image_id, b"staged")).status_code == 204
    for body, headers, status in (
        (direct(stores="fast"), {}, 400),  # not a list
        (direct(stores=[1]), {}, 400),
        (direct(stores=["fast"]), {"X-Image-Meta-Store": "fast"}, 400),
        (direct(all_stores=True, stores=["fast"]), {}, 400),
        (direct(stores=["nowhere"]), {}, 409),
    ):
        response = await start_import(
            importer, image_id, body, {**_owner(), **headers} if headers else None
        )
        assert response.status_code == status, (body, headers, response.text)
    fresh = await new_image(importer)
    for body in (
        {"method": {"name": "web-download"}},  # no uri
        {"method": {"name": "web-download", "uri": "ftp://x/y"}},
        {"method": {"name": "glance-download"}},
    ):
        response = await start_import(importer, fresh, body)
        assert response.status_code == 400, (body, response.text)
    # a queued image without formats cannot be imported
    bare = await new_image(importer, disk_format=None, container_format=None)
    response = await start_import(
        importer, bare, {"method": {"name": "web-download", "uri": "http://127.0.0.1:1/x"}}
    )
    assert response.status_code == 409


async def test_copy_to_a_store_that_holds_it_is_400(importer: httpx.AsyncClient) -> None:
    image_id = await new_image(importer)
    admin = {"X-Roles": "admin,member,reader", "X-Project-Id": "admin", "X-User-Id": "a"}
    queued = await start_import(
        importer, image_id, {"method": {"name": "copy-image"}, "stores": ["cheap"]}, admin
    )
    assert queued.status_code == 409  # not active yet: nothing to copy


def _owner() -> dict[str, str]:
    return dict(OWNER)
