"""Locations: ``GET /v2/images/{id}/locations`` (2.17), where an image's data is, for
services (Nova, Cinder) that read it from the stores themselves (``fetch_image_location``
is theirs: the service or admin role); and with ``show_multiple_locations``, the
``locations`` of image views and their PATCH, data read through the http store from a
real HTTP server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.imports.location_import import LOCATION_TASK
from glimpse.model.images import Location
from glimpse.tasks.model import Task
from glimpse.tasks.worker import Progress
from tests.imports.conftest import settled
from tests.support.records import OCTETS, admin, caller, create_image, patch_image, show_image
from tests.support.server import free_port
from tests.support.web import Web, reaching

OWNER = caller("owner")
# Nova and Cinder ask on behalf of the image's user, with the service role of their token
SERVICE = caller("owner", "member", "reader", "service")


async def uploaded(client: httpx.AsyncClient, data: bytes, **headers: str) -> str:
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    response = await client.put(
        f"/v2/images/{image['id']}/file", content=data, headers={**OWNER, **OCTETS, **headers}
    )
    assert response.status_code == 204, response.text
    image_id: str = image["id"]
    return image_id


async def test_services_read_where_the_data_is(client: httpx.AsyncClient, data_dir: Path) -> None:
    image_id = await uploaded(client, b"data")
    path = f"/v2/images/{image_id}/locations"
    for headers in (SERVICE, admin()):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        [location] = response.json()
        assert location["metadata"] == {}
        assert Path(location["url"].removeprefix("file://")).read_bytes() == b"data"
    queued = await create_image(client, OWNER)
    listed = await client.get(f"/v2/images/{queued['id']}/locations", headers=SERVICE)
    assert (listed.status_code, listed.json()) == (200, [])


async def test_others_may_not(client: httpx.AsyncClient) -> None:
    image_id = await uploaded(client, b"data")
    path = f"/v2/images/{image_id}/locations"
    refused = await client.get(path, headers=OWNER)  # even the owner: a service's call
    assert refused.status_code == 403
    assert "fetch_image_location" in refused.text
    # an image the caller cannot see does not exist for them
    assert (await client.get(path, headers=caller("stranger"))).status_code == 404
    missing = "/v2/images/00000000-0000-0000-0000-000000000000/locations"
    assert (await client.get(missing, headers=SERVICE)).status_code == 404


async def test_each_location_names_its_store_with_several(make_client: Any, tmp_path: Path) -> None:
    stores = {
        "fast": {"type": "file", "directory": tmp_path / "fast"},
        "cheap": {"type": "file", "directory": tmp_path / "cheap"},
    }
    client = await make_client(stores=stores, default_store="fast")
    image_id = await uploaded(client, b"data", **{"X-Image-Meta-Store": "cheap"})
    response = await client.get(f"/v2/images/{image_id}/locations", headers=SERVICE)
    [location] = response.json()
    assert location == {
        "url": (tmp_path / "cheap" / image_id).as_uri(),
        "metadata": {"store": "cheap"},
    }


# ---------------------------------------------------------------- show_multiple_locations
# PATCH of `locations` as Glance 33 answers it (each case checked against the real one)

DATA = os.urandom(100_000)


@pytest.fixture
async def located(make_client: Any, web: Web) -> httpx.AsyncClient:
    """A glimpse showing locations, whose http store may read from ``web``."""
    made: httpx.AsyncClient = await make_client(
        show_multiple_locations=True,
        show_image_direct_url=True,
        enforce_new_defaults=True,
        **reaching(web),
    )
    return made


def add(url: str, position: str = "-", **value: Any) -> list[dict[str, Any]]:
    return [
        {
            "op": "add",
            "path": f"/locations/{position}",
            "value": {"url": url, "metadata": {}, **value},
        }
    ]


async def patched(
    client: httpx.AsyncClient, image_id: str, ops: Any, status: int = 200, headers: Any = None
) -> dict[str, Any]:
    response = await patch_image(client, image_id, ops, headers=headers or OWNER)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_location_makes_a_queued_image_active(located: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(located, OWNER, disk_format="raw", container_format="bare")
    assert image["locations"] == [] and "direct_url" not in image
    shown = await patched(located, image["id"], add(url, metadata={"foo": "bar"}))
    assert shown["status"] == "active" and shown["size"] == len(DATA)
    assert shown["locations"] == [{"url": url, "metadata": {"foo": "bar"}}]
    assert shown["direct_url"] == url
    # as Glance: no hashing of data added this way
    assert shown["checksum"] is None and shown["os_hash_value"] is None
    assert await show_image(located, image["id"], OWNER) == shown
    # the data is read from where the location says, whole or in part
    whole = await located.get(f"/v2/images/{image['id']}/file", headers=OWNER)
    assert (whole.status_code, whole.content) == (200, DATA)
    part = await located.get(
        f"/v2/images/{image['id']}/file", headers={**OWNER, "Range": "bytes=10-19"}
    )
    assert (part.status_code, part.content) == (206, DATA[10:20])
    # locations show in lists too
    listed = (await located.get("/v2/images", headers=OWNER)).json()["images"]
    assert [found["locations"] for found in listed] == [shown["locations"]]


async def test_urls_that_are_refused(located: httpx.AsyncClient, web: Web) -> None:
    image = await create_image(located, OWNER, disk_format="raw", container_format="bare")
    served = web.serve("/image.raw", DATA)
    for url in (
        "gopher://info.cern.ch",  # no store reads it
        "file:///etc/passwd",  # another tenant's files: never
        "swift+config://ref1/glance/x",  # the operator's Swift credentials: never
        web.url("/nothing"),  # no data there
        f"http://127.0.0.1:{free_port()}/image.raw",  # a port the filters do not allow
        "",
    ):
        response = await patch_image(located, image["id"], add(url), headers=OWNER)
        assert (response.status_code, response.json()["message"]) == (
            400,
            "Invalid location<br /><br />\n\n\n",
        ), url
    refused = await patch_image(
        located, image["id"], add(served, metadata={"a": 1}), headers=OWNER
    )  # Glance answers a 500
    assert refused.status_code == 400 and "invalid type of int" in refused.text
    bad_position = await patch_image(located, image["id"], add(served, "x"), headers=OWNER)
    assert bad_position.status_code == 400
    assert "Invalid position for adding a location." in bad_position.text
    assert (await show_image(located, image["id"], OWNER))["status"] == "queued"


async def test_formats_first(located: httpx.AsyncClient, web: Web) -> None:
    image = await create_image(located, OWNER)
    response = await patch_image(located, image["id"], add(web.serve("/i", DATA)), headers=OWNER)
    assert response.status_code == 400
    assert "disk_format, container_format must be set prior to saving data" in response.text


async def test_several_locations_replace_and_remove(located: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(located, OWNER, disk_format="raw", container_format="bare")
    image_id = image["id"]
    await patched(located, image_id, add(url, "5", metadata={"a": "1"}))  # past the end: appended
    duplicate = await patch_image(located, image_id, add(url, metadata={"a": "1"}), headers=OWNER)
    assert duplicate.status_code == 400
    assert f"The location {url} already exists" in duplicate.text
    # the same URL with other metadata is another location (as Glance)
    await patched(located, image_id, add(url, metadata={"a": "2"}))
    shown = await patched(located, image_id, add(f"{url}#2", "0"))
    assert [loc["url"] for loc in shown["locations"]] == [f"{url}#2", url, url]
    assert shown["direct_url"] == f"{url}#2"

    # replace: only the metadata of the same URLs may change
    other = await patch_image(
        located,
        image_id,
        [{"op": "replace", "path": "/locations", "value": [{"url": f"{url}#y", "metadata": {}}]}],
        headers=OWNER,
    )
    assert other.status_code == 400 and "Original locations is not empty" in other.text
    renamed = [
        {"url": f"{url}#2", "metadata": {"date": "2015-10-15"}},
        {"url": url, "metadata": {"b": "1"}},
        {"url": url, "metadata": {"a": "2"}},
    ]
    shown = await patched(
        located, image_id, [{"op": "replace", "path": "/locations", "value": renamed}]
    )
    assert shown["locations"] == renamed
    empty = await patch_image(
        located, image_id, [{"op": "replace", "path": "/locations", "value": []}], headers=OWNER
    )
    assert (empty.status_code, "Cannot set locations to empty list." in empty.text) == (403, True)

    # remove: an admin's (delete_image_location), never the last location
    remove_first = [{"op": "remove", "path": "/locations/0"}]
    assert (await patch_image(located, image_id, remove_first, headers=OWNER)).status_code == 403
    bad = await patch_image(
        located, image_id, [{"op": "remove", "path": "/locations/9"}], headers=admin()
    )
    assert (bad.status_code, "Invalid position for removing a location." in bad.text) == (400, True)
    shown = await patched(located, image_id, remove_first, headers=admin())
    shown = await patched(
        located, image_id, [{"op": "remove", "path": "/locations/-"}], headers=admin()
    )
    assert shown["locations"] == [{"url": url, "metadata": {"b": "1"}}]
    assert shown["direct_url"] == url
    last = await patch_image(located, image_id, remove_first, headers=admin())
    assert (last.status_code, "Cannot remove last location in the image." in last.text) == (
        403,
        True,
    )


async def test_status_rules(located: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(located, OWNER, disk_format="raw", container_format="bare")
    remove = [{"op": "remove", "path": "/locations/0"}]
    queued = await patch_image(located, image["id"], remove, headers=admin())
    assert queued.status_code == 409
    assert "It's not allowed to remove locations if image status is queued." in queued.text
    await patched(located, image["id"], add(url))
    deactivate = f"/v2/images/{image['id']}/actions/deactivate"
    assert (await located.post(deactivate, headers=OWNER)).status_code == 204
    refused = await patch_image(located, image["id"], add(f"{url}#2"), headers=OWNER)
    assert refused.status_code == 409
    assert "It's not allowed to add locations if image status is deactivated." in refused.text


async def test_others_may_not_add(located: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(
        located, admin("owner"), disk_format="raw", container_format="bare", visibility="public"
    )
    await patched(located, image["id"], add(url))
    stranger = await patch_image(located, image["id"], add(f"{url}#2"), headers=caller("other"))
    assert stranger.status_code == 403
    # every caller who sees the image sees where its data is (Glance's deprecated option)
    seen = await show_image(located, image["id"], caller("other"))
    assert seen["locations"] == [{"url": url, "metadata": {}}]


async def test_validation_data(located: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(located, OWNER, disk_format="raw", container_format="bare")
    sha512 = "ab" * 64
    cases = [
        ({"checksum": "z" * 32, "os_hash_algo": "sha512", "os_hash_value": "00"},
         "checksum (zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz) is not a valid hexadecimal value"),
        ({"os_hash_algo": "sha256", "os_hash_value": "00"},
         "os_hash_algo must be sha512, not sha256"),
        ({"os_hash_algo": "sha512", "os_hash_value": "0g"},
         "os_hash_value (0g) is not a valid hexadecimal value"),
        ({"os_hash_algo": "sha512", "os_hash_value": "00"},
         "os_hash_value (00) is not the correct size for sha512 (should be 64 bytes)"),
    ]  # fmt: skip
    for validation, message in cases:
        response = await patch_image(
            located, image["id"], add(url, validation_data=validation), headers=OWNER
        )
        assert (response.status_code, message in response.text) == (409, True), response.text
    given = {"checksum": "1" * 32, "os_hash_algo": "sha512", "os_hash_value": sha512}
    shown = await patched(located, image["id"], add(url, validation_data=given))
    assert {key: shown[key] for key in given} == given
    assert shown["locations"] == [{"url": url, "metadata": {}}]
    # the same values again are fine; others conflict
    await patched(located, image["id"], add(f"{url}#2", validation_data=given))
    changed = {**given, "checksum": "2" * 32}
    response = await patch_image(
        located, image["id"], add(f"{url}#3", validation_data=changed), headers=OWNER
    )
    assert response.status_code == 409
    assert "checksum is already set with a different value" in response.text


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ({"image_location_quota": 2}, "Attempted: 3, Maximum: 2"),
        # each new location counts the image's size again (user_storage_quota)
        (
            {"user_storage_quota": len(DATA) * 2 + 10},
            f"The size of the data {len(DATA)} will exceed the limit. 10 bytes remaining.",
        ),
    ],
    ids=["image_location_quota", "user_storage_quota"],
)
async def test_quotas(make_client: Any, web: Web, quota: dict[str, int], message: str) -> None:
    client = await make_client(show_multiple_locations=True, **quota, **reaching(web))
    url = web.serve("/image.raw", DATA)
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    await patched(client, image["id"], add(url))
    await patched(client, image["id"], add(f"{url}#2"))
    response = await patch_image(client, image["id"], add(f"{url}#3"), headers=OWNER)
    assert (response.status_code, message in response.text) == (413, True), response.text


async def test_data_another_image_holds_stays(make_client: Any, web: Web, tmp_path: Path) -> None:
    """An image whose location names data another image holds (added through a location
    API) gives it up without removing it; the last image holding it removes it."""
    client = await make_client(show_multiple_locations=True)
    first = await uploaded(client, DATA)
    second = (await create_image(client, OWNER, disk_format="raw", container_format="bare"))["id"]
    [location] = (await show_image(client, first, OWNER))["locations"]
    path = Path(location["url"].removeprefix("file://"))
    app = client._transport.app  # type: ignore[attr-defined]

    def hold(repo: ImageRepository) -> None:
        repo.set_locations(second, [Location(location["url"], {}, "file")])
        assert repo.move(second, Move.ACTIVATE_WITH_LOCATION, {"size": len(DATA)})

    await app.images.db.write(hold)
    assert (await client.delete(f"/v2/images/{first}", headers=OWNER)).status_code == 204
    assert path.read_bytes() == DATA
    got = await client.get(f"/v2/images/{second}/file", headers=OWNER)
    assert got.content == DATA
    assert (await client.delete(f"/v2/images/{second}", headers=OWNER)).status_code == 204
    assert not path.exists()


async def test_each_location_shows_its_store_with_several(
    make_client: Any, web: Web, tmp_path: Path
) -> None:
    client = await make_client(
        show_multiple_locations=True,
        stores={
            "fast": {"type": "file", "directory": tmp_path / "fast"},
            "web": {"type": "http"},
        },
        **reaching(web),
    )
    url = web.serve("/image.raw", DATA)
    image = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    shown = await patched(client, image["id"], add(url))
    assert shown["locations"] == [{"url": url, "metadata": {"store": "web"}}]
    assert shown["stores"] == "web"
    stores = (await client.get("/v2/info/stores", headers=OWNER)).json()["stores"]
    assert {"id": "web", "read-only": "true"} in stores
    upload = await client.put(
        f"/v2/images/{image['id']}/file", content=b"x", headers={**OWNER, **OCTETS}
    )
    assert upload.status_code == 409  # active already
    second = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    to_web = await client.put(
        f"/v2/images/{second['id']}/file",
        content=b"x",
        headers={**OWNER, **OCTETS, "X-Image-Meta-Store": "web"},
    )
    assert to_web.status_code == 400  # read-only: never a target


# ------------------------------------------------------- POST …/locations (2.17)


def sha(name: str, data: bytes) -> str:
    return hashlib.new(name, data).hexdigest()


async def add_location(
    client: httpx.AsyncClient, image_id: str, body: Any, headers: Any = SERVICE
) -> httpx.Response:
    return await client.post(f"/v2/images/{image_id}/locations", json=body, headers=headers)


@pytest.fixture
async def services(make_client: Any, web: Web, tmp_path: Path) -> httpx.AsyncClient:
    """A glimpse with a file store and an http store that may read from ``web``."""
    made: httpx.AsyncClient = await make_client(
        stores={
            "fast": {"type": "file", "directory": tmp_path / "fast"},
            "web": {"type": "http"},
        },
        **reaching(web),
    )
    return made


async def test_a_service_names_the_data_and_its_hash_is_checked(
    services: httpx.AsyncClient, web: Web
) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
    given = {"os_hash_algo": "sha256", "os_hash_value": sha("sha256", DATA)}
    response = await add_location(services, image["id"], {"url": url, "validation_data": given})
    assert (response.status_code, response.content) == (202, b"")
    done = await settled(services, image["id"])
    assert [task["type"] for task in done["_tasks"]] == ["location_import"]
    assert done["_tasks"][0]["status"] == "success", done["_tasks"]
    assert (done["status"], done["size"], done["stores"]) == ("active", len(DATA), "web")
    assert (done["os_hash_algo"], done["os_hash_value"]) == ("sha256", given["os_hash_value"])
    assert done["checksum"] == sha("md5", DATA)
    got = await services.get(f"/v2/images/{image['id']}/file", headers=OWNER)
    assert got.content == DATA


async def test_a_hash_that_differs_gives_the_image_back(
    services: httpx.AsyncClient, web: Web
) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
    wrong = {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16}
    response = await add_location(services, image["id"], {"url": url, "validation_data": wrong})
    assert response.status_code == 202
    done = await settled(services, image["id"])
    assert done["_tasks"][0]["status"] == "failure"
    assert "not matched with actual os_hash_value" in done["_tasks"][0]["message"]
    assert (done["status"], done["os_hash_algo"], done["checksum"]) == ("queued", None, None)
    # as Glance: an HTTP location stays on the queued image
    assert done["stores"] == "web"


async def test_without_a_hash_the_image_is_active_first_and_hashed_after(
    services: httpx.AsyncClient, web: Web
) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
    assert (await add_location(services, image["id"], {"url": url})).status_code == 202
    done = await settled(services, image["id"])
    assert done["status"] == "active"
    assert (done["os_hash_algo"], done["os_hash_value"]) == ("sha512", sha("sha512", DATA))
    assert done["checksum"] == sha("md5", DATA)


async def test_without_secure_hash_the_values_are_taken_as_given(
    make_client: Any, web: Web, tmp_path: Path
) -> None:
    client = await make_client(
        stores={"fast": {"type": "file", "directory": tmp_path / "f"}, "web": {"type": "http"}},
        do_secure_hash=False,
        **reaching(web),
    )
    url = web.serve("/image.raw", DATA)
    given = {"os_hash_algo": "sha512", "os_hash_value": "ab" * 64}
    first = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    await add_location(client, first["id"], {"url": url, "validation_data": given})
    done = await settled(client, first["id"])
    assert (done["status"], done["os_hash_value"], done["checksum"]) == ("active", "ab" * 64, None)
    second = await create_image(client, OWNER, disk_format="raw", container_format="bare")
    await add_location(client, second["id"], {"url": url})
    done = await settled(client, second["id"])
    assert (done["status"], done["size"], done["os_hash_value"]) == ("active", len(DATA), None)


async def test_bad_requests(services: httpx.AsyncClient, web: Web) -> None:
    url = web.serve("/image.raw", DATA)
    image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
    image_id = image["id"]
    sha256 = sha("sha256", DATA)
    cases: list[tuple[Any, Any, int, str]] = [
        ({"validation_data": {}}, SERVICE, 400, "'url' is a required property"),
        ({"url": url, "validation_data": {"os_hash_value": sha256}}, SERVICE, 400, "os_hash_algo"),
        ({"url": url, "validation_data": {"os_hash_algo": "sha123", "os_hash_value": sha256}},
         SERVICE, 400, "sha123"),
        ({"url": url, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": sha256}},
         SERVICE, 400, "is not the correct size for (sha512) (should be (64) bytes)"),
        ({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": "zz"}},
         SERVICE, 400, "os_hash_value (zz) is not a valid hexadecimal value"),
        # a caller without the service role: HTTP URLs only, through the filters
        ({"url": "file:///etc/passwd"}, OWNER, 403,
         "http store must be enabled to use location API by normal user."),
        ({"url": f"http://127.0.0.1:{free_port()}/x"}, OWNER, 400,
         "URI for add location does not pass filtering"),
        ({"url": url}, caller("stranger"), 404, "No image found"),
    ]  # fmt: skip
    for body, headers, status, message in cases:
        response = await add_location(services, image_id, body, headers)
        assert (response.status_code, message in response.text) == (status, True), (
            body,
            response.text,
        )
    assert (await show_image(services, image_id, OWNER))["status"] == "queued"
    # the owner may name an HTTP URL (add_image_location: a member of the owning project)
    assert (await add_location(services, image_id, {"url": url}, OWNER)).status_code == 202
    assert (await settled(services, image_id))["status"] == "active"
    again = await add_location(services, image_id, {"url": url})
    assert again.status_code == 409
    assert "It's not allowed to add locations if image status is active." in again.text


async def test_one_operation_at_a_time_and_a_delete_cancels_the_hashing(
    services: httpx.AsyncClient, web: Web
) -> None:
    """A slow source keeps the job hashing: a second request meets the lock (409), and
    deleting the image ends the job."""
    release = threading.Event()
    big = os.urandom(4 << 20)

    def slow(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(big)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        handler.wfile.write(big[: 1 << 20])
        release.wait(10)
        handler.wfile.write(big[1 << 20 :])

    web.routes["/slow"] = slow
    try:
        image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
        given = {"os_hash_algo": "sha512", "os_hash_value": sha("sha512", big)}
        body = {"url": web.url("/slow"), "validation_data": given}
        assert (await add_location(services, image["id"], body)).status_code == 202
        for _ in range(100):
            if (await show_image(services, image["id"], OWNER))["status"] == "importing":
                break
            await asyncio.sleep(0.05)
        second = await add_location(services, image["id"], body)
        assert second.status_code == 409  # importing, and locked
        listed = await services.get(f"/v2/images/{image['id']}/tasks", headers=admin())
        [task] = listed.json()["tasks"]
        deleted = await services.delete(f"/v2/images/{image['id']}", headers=OWNER)
        assert deleted.status_code == 204
    finally:
        release.set()
    for _ in range(200):
        ended = (await services.get(f"/v2/tasks/{task['id']}", headers=admin())).json()
        if ended["status"] in ("success", "failure"):
            break
        await asyncio.sleep(0.05)
    assert ended["status"] == "failure" and "deleted" in ended["message"], ended
    assert (await services.get(f"/v2/images/{image['id']}", headers=OWNER)).status_code == 404


async def test_a_rerun_resumes_where_a_dead_worker_stopped(
    services: httpx.AsyncClient, web: Web
) -> None:
    """A worker that died while hashing left the image importing with its location: the
    task's next attempt (another worker) hashes and activates it."""
    url = web.serve("/image.raw", DATA)
    image = await create_image(services, OWNER, disk_format="raw", container_format="bare")
    given = {"os_hash_algo": "sha512", "os_hash_value": sha("sha512", DATA)}
    app = services._transport.app  # type: ignore[attr-defined]

    def as_left(repo: ImageRepository) -> None:
        repo.set_locations(image["id"], [Location(url, {}, "web")])
        assert repo.move(
            image["id"], Move.START_IMPORT, {"size": len(DATA), "os_hash_algo": "sha512"}
        )

    await app.images.db.write(as_left)
    task = Task(
        id="t-1",
        type=LOCATION_TASK,
        image_id=image["id"],
        attempts=2,
        input={"image_id": image["id"], "loc_url": url, "validation_data": given},
    )
    await app.worker.handlers[LOCATION_TASK].run(task, Progress())
    done = await show_image(services, image["id"], OWNER)
    assert (done["status"], done["os_hash_value"]) == ("active", given["os_hash_value"])
    assert done["checksum"] == sha("md5", DATA)
