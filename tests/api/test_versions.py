"""Version discovery, negotiation, health, request ids, routing errors and error bodies."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

SAMPLES = Path(__file__).parent.parent / "data" / "samples"

EXPECTED_IDS = [
    "v2.15",
    "v2.9",
    "v2.17",
    "v2.7",
    "v2.6",
    "v2.5",
    "v2.4",
    "v2.3",
    "v2.2",
    "v2.1",
    "v2.0",
]


async def test_root_is_300_versions(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 300
    versions = response.json()["versions"]
    assert [v["id"] for v in versions] == EXPECTED_IDS
    assert [v["id"] for v in versions if v["status"] == "CURRENT"] == ["v2.17"]
    assert versions[0]["links"] == [{"rel": "self", "href": "http://glimpse.test/v2/"}]


async def test_versions_is_200(client: httpx.AsyncClient) -> None:
    response = await client.get("/versions")
    assert response.status_code == 200
    assert [v["id"] for v in response.json()["versions"]] == EXPECTED_IDS


async def test_version_objects_have_the_sample_shape(client: httpx.AsyncClient) -> None:
    sample = json.loads((SAMPLES / "image-versions-response.json").read_text())["versions"][0]
    ours = (await client.get("/versions")).json()["versions"][0]
    assert set(ours) == set(sample)
    assert set(ours["links"][0]) == set(sample["links"][0])


@pytest.mark.parametrize("path", ["/v3/images", "/v1/images", "/whatever"])
async def test_unknown_version_gets_300(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 300


@pytest.mark.parametrize("prefix", ["v2", "v2.0", "v2.5", "v2.9", "v2.15", "v2.17"])
async def test_versioned_prefixes_reach_v2(client: httpx.AsyncClient, prefix: str) -> None:
    response = await client.get(f"/{prefix}/images")
    assert response.status_code == 200
    assert response.json()["images"] == []


async def test_public_endpoint_names_the_links(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(public_endpoint="https://images.example.org")
    links = (await client.get("/")).json()["versions"][0]["links"]
    assert links[0]["href"] == "https://images.example.org/v2/"


async def test_healthcheck(client: httpx.AsyncClient, data_dir: Path) -> None:
    response = await client.get("/healthcheck", headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.text == "OK"
    (data_dir / "healthcheck_disable").touch()
    assert (await client.get("/healthcheck")).status_code == 503


async def test_a_bare_version_prefix_redirects_to_its_root(client: httpx.AsyncClient) -> None:
    for path in ("/v2", "/v2.1", "/v2.0"):
        response = await client.get(path)
        assert response.status_code == 302
        assert response.headers["location"] == "http://glimpse.test/v2/"
    assert (await client.get("/v2/")).status_code == 404


async def test_options_is_an_empty_200_anywhere(client: httpx.AsyncClient) -> None:
    for path in ("/v2/images", "/v2/nope", "/v2/images/x/file"):
        response = await client.options(path)
        assert (response.status_code, response.content) == (200, b"")


async def test_request_id_is_generated(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/images")
    assert response.headers["x-openstack-request-id"].startswith("req-")
    other = await client.get("/v2/images")
    assert other.headers["x-openstack-request-id"] != response.headers["x-openstack-request-id"]


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    mine = "req-0f3e6c52-3d3c-4a53-9a44-0b1c0b1c0b1c"
    response = await client.get("/v2/images", headers={"X-Openstack-Request-ID": mine})
    assert response.headers["x-openstack-request-id"] == mine
    response = await client.get("/v2/images", headers={"X-Openstack-Request-ID": "abc"})
    assert response.headers["x-openstack-request-id"] == "req-abc"


async def test_request_id_too_long_is_431(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/images", headers={"X-Openstack-Request-ID": "x" * 65})
    assert response.status_code == 431


async def test_errors_carry_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/images/nope")
    assert response.status_code == 404
    assert response.headers["x-openstack-request-id"].startswith("req-")


async def test_unknown_path_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/nothing")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "404 Not Found"
    assert body["title"] == "Not Found"
    assert "could not be found" in body["message"]


async def test_wrong_method_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/v2/images")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_head_is_not_get(client: httpx.AsyncClient) -> None:
    response = await client.head("/v2/images")
    assert response.status_code == 405


@pytest.mark.parametrize("accept", [None, "application/json", "text/plain", "*/*"])
@pytest.mark.parametrize(("path", "status"), [("/v2/images", 405), ("/v2/nothing", 404)])
async def test_head_errors_are_empty_html_whatever_the_accept(
    client: httpx.AsyncClient, accept: str | None, path: str, status: int
) -> None:
    # as Glance 33 answers them
    headers = {"Accept": accept} if accept else {}
    response = await client.head(path, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=UTF-8"
    assert response.headers["content-length"] == "0"


# Glance 33's bodies, byte for byte (WebOb's templates; 405 has its own)
_405_BODIES = {
    "application/json": b'{"message": "The method PUT is not allowed for this resource. '
    b'<br /><br />\\n", '
    b'"code": "405 Method Not Allowed", "title": "Method Not Allowed"}',
    "text/plain": b"405 Method Not Allowed\n\n"
    b"The method PUT is not allowed for this resource. \n\n ",
    "*/*": b"<html>\n <head>\n  <title>405 Method Not Allowed</title>\n </head>\n <body>\n"
    b"  <h1>405 Method Not Allowed</h1>\n"
    b"  The method PUT is not allowed for this resource. <br /><br />\n\n </body>\n</html>",
}
_404_BODIES = {
    "application/json": b'{"message": "No image found with ID nope<br /><br />\\n\\n\\n", '
    b'"code": "404 Not Found", "title": "Not Found"}',
    "text/plain": b"404 Not Found\n\nNo image found with ID nope\n\n   ",
    "*/*": b"<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
    b"  <h1>404 Not Found</h1>\n  No image found with ID nope<br /><br />\n\n\n\n </body>\n</html>",
}


@pytest.mark.parametrize("accept", sorted(_405_BODIES))
async def test_error_bodies_are_glances_byte_for_byte(
    client: httpx.AsyncClient, accept: str
) -> None:
    headers = {"Accept": accept}
    assert (await client.put("/v2/images", headers=headers)).content == _405_BODIES[accept]
    assert (await client.get("/v2/images/nope", headers=headers)).content == _404_BODIES[accept]


async def test_unknown_method_on_unknown_path_is_501(client: httpx.AsyncClient) -> None:
    response = await client.request("FOO", "/v2/nothing")
    assert response.status_code == 501


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "text/plain"),  # as Glance 33 under uWSGI answers
        ("*/*", "text/html"),
        ("application/json", "application/json"),
        ("text/plain", "text/plain"),
        ("application/json, text/html", "text/html"),
        ("application/json;q=1, text/html;q=0.5", "application/json"),
    ],
)
async def test_error_body_follows_accept(
    client: httpx.AsyncClient, accept: str | None, media_type: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    request = client.build_request("GET", "/v2/images/nope", headers=headers)
    if accept is None:
        del request.headers["Accept"]
    response = await client.send(request)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(media_type)
    assert "No image found with ID nope" in response.text


async def test_import_info_lists_no_methods(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v2/info/import")).json()
    assert body == {
        "import-methods": {"description": "Import methods available.", "type": "array", "value": []}
    }


async def test_the_version_may_be_asked_for_in_accept(client: httpx.AsyncClient) -> None:
    # as Glance's version negotiation: a path without a version, the version in Accept
    wanted = {"Accept": "application/vnd.openstack.images-v2"}
    assert (await client.get("/images", headers=wanted)).status_code == 200
    unknown = {"Accept": "application/vnd.openstack.images-v9"}
    assert (await client.get("/images", headers=unknown)).status_code == 300
