"""web-download against real HTTP servers on 127.0.0.1 (allowed explicitly in these
tests' settings): the data arrives; forbidden addresses, redirects to them, bad sources,
slow, short and oversized bodies all end as a recorded failure, never ``active``."""

from __future__ import annotations

import os
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.config import Settings
from glimpse.imports.web import WebSource
from glimpse.tasks.model import JobFailed
from tests.imports.conftest import OWNER, md5, new_image, settled, start_import
from tests.support.web import Web


def web_body(uri: str) -> dict[str, Any]:
    return {"method": {"name": "web-download", "uri": uri}}


async def failed(client: httpx.AsyncClient, image_id: str) -> dict[str, Any]:
    image = await settled(client, image_id)
    assert image["status"] == "queued", image
    (task,) = image["_tasks"]
    assert task["status"] == "failure"
    assert task["message"]
    return image


async def test_downloads_into_the_store(web_importer: httpx.AsyncClient, web: Web) -> None:
    data = os.urandom(5 << 20)
    uri = web.serve("/image.raw", data)
    image_id = await new_image(web_importer)
    response = await start_import(web_importer, image_id, web_body(uri))
    assert response.status_code == 202, response.text
    image = await settled(web_importer, image_id)
    assert image["status"] == "active"
    assert image["checksum"] == md5(data) and image["size"] == len(data)
    assert image["stores"] == "fast"
    (task,) = image["_tasks"]
    assert task["message"] == "" or task["message"].startswith("Copied")
    assert task["input"]["import_req"]["method"]["uri"] == uri
    download = await web_importer.get(f"/v2/images/{image_id}/file", headers=OWNER)
    assert download.content == data


async def test_the_default_filters_refuse_at_request_time(importer: httpx.AsyncClient) -> None:
    image_id = await new_image(importer)
    for uri in [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "http://example.com:8080/x",  # only 80 and 443 by default
        "http://2130706433/x",  # 127.0.0.1 spelled as a number
        "http://0x7f000001/x",
        "http://127.1/x",
        "no-scheme",
    ]:
        response = await start_import(importer, image_id, web_body(uri))
        assert response.status_code == 400, (uri, response.text)
    assert (
        await start_import(importer, image_id, {"method": {"name": "web-download"}})
    ).status_code == 400


async def test_loopback_is_refused_at_request_time_unless_allowed(
    make_client: Any, import_settings: dict[str, Any], web: Web
) -> None:
    """As Glance 33: the port is allowed, the host is not; 127.0.0.1, or a name that
    resolves to it, is refused when the import is requested, with Glance's message."""
    client = await make_client(**import_settings, import_allowed_ports=[web.port])
    web.serve("/x", b"secret")
    image_id = await new_image(client)
    for uri in [web.url("/x"), web.url("/x", host="localhost"), f"http://[::1]:{web.port}/x"]:
        response = await start_import(client, image_id, web_body(uri))
        assert response.status_code == 400, (uri, response.text)
        assert f"URI for web-download does not pass filtering: {uri}" in response.text
    image = (await client.get(f"/v2/images/{image_id}", headers=OWNER)).json()
    assert image["status"] == "queued"


async def test_a_denied_or_unresolvable_host_is_refused_at_request_time(
    make_client: Any, import_settings: dict[str, Any], web: Web
) -> None:
    client = await make_client(
        **import_settings, import_allowed_ports=[web.port], import_disallowed_hosts=["192.0.2.7"]
    )
    image_id = await new_image(client)
    for uri in [f"http://192.0.2.7:{web.port}/x", f"http://no-such-host.invalid:{web.port}/x"]:
        response = await start_import(client, image_id, web_body(uri))
        assert response.status_code == 400, (uri, response.text)
        assert "does not pass filtering" in response.text


async def test_the_job_refuses_a_non_public_address_again(web: Web, tmp_path: Path) -> None:
    """The second line, in the job: an address that is not global is refused when the
    fetch connects (private ranges too, which Glance's request-time check lets through)."""
    web.serve("/x", b"secret")
    settings = Settings(data_dir=tmp_path, import_allowed_ports=[web.port])
    with pytest.raises(JobFailed, match="non-public address"):
        await WebSource(settings).open(web.url("/x", host="localhost"), 1 << 20)
    with pytest.raises(JobFailed, match="non-public address"):
        await WebSource(settings).open(web.url("/x"), 1 << 20)


async def test_a_redirect_to_a_forbidden_address_is_refused(
    web_importer: httpx.AsyncClient, web: Web
) -> None:
    web.serve("/secret", b"secret")

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", web.url("/secret", host="localhost"))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    web.routes["/go"] = redirect
    image_id = await new_image(web_importer)
    assert (await start_import(web_importer, image_id, web_body(web.url("/go")))).status_code == 202
    await failed(web_importer, image_id)


async def test_an_allowed_redirect_is_followed(web_importer: httpx.AsyncClient, web: Web) -> None:
    data = b"redirected" * 1000
    web.serve("/real", data)

    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(301)
        handler.send_header("Location", "/real")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    web.routes["/moved"] = redirect
    image_id = await new_image(web_importer)
    await start_import(web_importer, image_id, web_body(web.url("/moved")))
    image = await settled(web_importer, image_id)
    assert image["status"] == "active" and image["checksum"] == md5(data)


async def test_a_missing_source_fails(web_importer: httpx.AsyncClient, web: Web) -> None:
    image_id = await new_image(web_importer)
    await start_import(web_importer, image_id, web_body(web.url("/nothing")))
    image = await failed(web_importer, image_id)
    assert "404" in image["_tasks"][0]["message"]


async def test_a_truncated_body_fails(web_importer: httpx.AsyncClient, web: Web) -> None:
    def short(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"x" * 1000)
        handler.close_connection = True

    web.routes["/short"] = short
    image_id = await new_image(web_importer)
    await start_import(web_importer, image_id, web_body(web.url("/short")))
    await failed(web_importer, image_id)


async def test_a_stalled_body_times_out(web_importer: httpx.AsyncClient, web: Web) -> None:
    def stall(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.write(b"x" * 1000)
        handler.wfile.flush()
        time.sleep(3)  # the read timeout is 1 s in these tests

    web.routes["/slow"] = stall
    image_id = await new_image(web_importer)
    await start_import(web_importer, image_id, web_body(web.url("/slow")))
    image = await failed(web_importer, image_id)
    assert "timeout" in image["_tasks"][0]["message"]


async def test_a_body_over_the_cap_fails(
    make_client: Any, import_settings: dict[str, Any], web: Web
) -> None:
    client = await make_client(
        **import_settings,
        import_allowed_hosts=["127.0.0.1"],
        import_allowed_ports=[web.port],
        image_size_cap=10_000,
    )

    def unannounced(handler: BaseHTTPRequestHandler) -> None:
        # no Content-Length: the cap is enforced while streaming
        handler.send_response(200)
        handler.end_headers()
        handler.wfile.write(b"x" * 50_000)
        handler.close_connection = True

    web.routes["/big"] = unannounced
    web.serve("/announced", b"y" * 50_000)
    for path in ("/big", "/announced"):
        image_id = await new_image(client)
        await start_import(client, image_id, web_body(web.url(path)))
        image = await failed(client, image_id)
        assert "limit" in image["_tasks"][0]["message"], image["_tasks"]


async def test_transient_failures_are_retried(web_importer: httpx.AsyncClient, web: Web) -> None:
    data = b"eventually" * 100
    calls = []

    def flaky(handler: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        if len(calls) == 1:
            handler.send_error(503)
            return
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    web.routes["/flaky"] = flaky
    image_id = await new_image(web_importer)
    await start_import(web_importer, image_id, web_body(web.url("/flaky")))
    image = await settled(web_importer, image_id)
    assert image["status"] == "active" and len(calls) == 2
