"""glance-download between two real ``glimpse serve`` processes in keystone mode,
registered in one real Keystone's catalog as the image endpoints of RegionOne (the
importer) and RegionTwo (the source): the data arrives intact, the formats and the
configured properties are copied, the caller's token is used (and not kept), and every
failure is a recorded import failure with the image back to ``queued``. RegionThree's
image endpoint is a plain HTTP server answering crafted records: what a broken or
lying remote answers is refused too."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.keystone import Keystone, KeystoneInstance
from tests.support.server import ServerProcess
from tests.support.web import Web

pytestmark = pytest.mark.e2e

MEMBER = "alpha-member"
# copied: the importer copies hw_*, trait:* and os_* (never os_glance*, nor attributes)
PREFIXES = ["hw_", "trait:", "os_"]
COPIED = {
    "hw_disk_bus": "scsi",
    "hw_qemu_guest_agent": "yes",
    "trait:CUSTOM_GOLD": "required",
    "os_distro": "debian",
    "os_type": "linux",
    "os_secure_boot": "required",
}
NOT_COPIED = {"owner_note": "stays in RegionTwo", "architecture": "x86_64"}
INJECTED = {"hw_watchdog_action": "reset"}


@dataclass
class Regions:
    importer: ServerProcess  # RegionOne, which may glance-download
    source: ServerProcess  # RegionTwo
    crafted: Web  # RegionThree's image endpoint
    elsewhere: Web  # another origin, where a crafted answer may redirect


@pytest.fixture(scope="module")
def crafted() -> Iterator[tuple[Web, Web]]:
    one, two = Web(), Web()
    yield one, two
    one.close()
    two.close()


@pytest.fixture(scope="module")
def regions(
    keystone: Keystone,
    tmp_path_factory: pytest.TempPathFactory,
    crafted: tuple[Web, Web],
) -> Iterator[Regions]:
    source_env = keystone.server_env(
        # lets a raw image labelled qcow2 in, so that the importer's own check is seen
        GLIMPSE_REQUIRE_IMAGE_FORMAT_MATCH="false",
    )
    with ServerProcess(tmp_path_factory.mktemp("region-two"), env=source_env) as source:
        importer_env = keystone.server_env(
            GLIMPSE_ENABLED_IMPORT_METHODS=json.dumps(
                ["glance-direct", "web-download", "glance-download"]
            ),
            # the other region's endpoint passes web-download's filters, as in Glance
            GLIMPSE_IMPORT_ALLOWED_HOSTS=json.dumps(["127.0.0.1"]),
            GLIMPSE_IMPORT_ALLOWED_PORTS=json.dumps([source.port, *(w.port for w in crafted)]),
            GLIMPSE_WEB_DOWNLOAD_RETRIES="0",
            GLIMPSE_GLANCE_DOWNLOAD_PROPERTIES=json.dumps(PREFIXES),
            # the import plugins run on glance-download too; injected beats copied
            GLIMPSE_IMAGE_IMPORT_PLUGINS=json.dumps(["inject_image_metadata"]),
            GLIMPSE_INJECT_METADATA_PROPERTIES=json.dumps(INJECTED),
        )
        with ServerProcess(tmp_path_factory.mktemp("region-one"), env=importer_env) as importer:
            keystone.set_image_endpoint(importer.url, region="RegionOne")
            keystone.set_image_endpoint(source.url, region="RegionTwo")
            keystone.set_image_endpoint(crafted[0].url(""), region="RegionThree")
            try:
                yield Regions(importer, source, *crafted)
            finally:
                # the test Keystone is the session's: leave it with one image region
                for region in ("RegionTwo", "RegionThree"):
                    keystone.remove_image_endpoint(region)


def client(server: ServerProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"X-Auth-Token": token, "Accept": "application/json"},
        timeout=30,
    )


def create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    fields = {"disk_format": "raw", "container_format": "bare", **body}
    response = api.post("/v2/images", json=fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def upload(api: httpx.Client, data: bytes, **body: Any) -> dict[str, Any]:
    image = create(api, **body)
    response = api.put(
        f"/v2/images/{image['id']}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text
    shown: dict[str, Any] = api.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active"
    return shown


def glance_download(
    api: httpx.Client, image_id: str, remote_id: str, region: str = "RegionTwo", **extra: Any
) -> httpx.Response:
    method = {
        "name": "glance-download",
        "glance_image_id": remote_id,
        "glance_region": region,
        **extra,
    }
    return api.post(f"/v2/images/{image_id}/import", json={"method": method})


def settled(admin: httpx.Client, image_id: str, timeout: float = 30) -> dict[str, Any]:
    """The image (as the admin sees it) once its import task has ended, with the task."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = admin.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            image: dict[str, Any] = admin.get(f"/v2/images/{image_id}").json()
            image["_task"] = tasks[0]
            return image
        assert time.monotonic() < deadline, tasks
        time.sleep(0.1)


def kept_tokens(server: ServerProcess) -> list[str]:
    with sqlite3.connect(server.data_dir / "glimpse.db") as db:
        rows = db.execute("SELECT auth_token FROM tasks WHERE auth_token IS NOT NULL")
        return [row[0] for row in rows]


def test_an_image_of_region_two_is_imported_into_region_one(
    keystone: Keystone, regions: Regions
) -> None:
    importer, source = regions.importer, regions.source
    token = keystone.new_token(MEMBER)
    data = os.urandom(3 << 20) + b"end"
    with (
        client(source, token) as there,
        client(importer, token) as here,
        client(importer, keystone.token("admin")) as admin,
    ):
        assert "glance-download" in here.get("/v2/info/import").json()["import-methods"]["value"]
        assert (
            "glance-download"
            not in (there.get("/v2/info/import").json()["import-methods"]["value"])
        )
        remote = upload(
            there, data, name="golden", hw_watchdog_action="none", **COPIED, **NOT_COPIED
        )
        # the local record's formats are replaced by the remote image's
        local = create(here, name="copy", disk_format="qcow2", container_format="ovf")
        response = glance_download(here, local["id"], remote["id"])
        assert response.status_code == 202, response.text
        image = settled(admin, local["id"])
        assert image["status"] == "active", image
        assert image["_task"]["status"] == "success"
        method = image["_task"]["input"]["import_req"]["method"]
        assert method["glance_service_interface"] == "public"  # Glance's default, recorded
        for name in ("size", "checksum", "os_hash_algo", "os_hash_value"):
            assert image[name] == remote[name], name
        assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
        assert {k: image.get(k) for k in COPIED} == COPIED
        assert image["hw_watchdog_action"] == "reset"
        assert not set(NOT_COPIED) & set(image)
        assert image["name"] == "copy"  # the local record stays the local one
        assert here.get(f"/v2/images/{local['id']}/file").content == data
        assert token not in kept_tokens(importer)


def test_the_caller_s_view_of_the_remote_region_decides(
    keystone: Keystone, regions: Regions
) -> None:
    """The remote is read with the caller's own token: a private image of another
    project is not found there, whatever glimpse's own credentials could see."""
    importer, source = regions.importer, regions.source
    with (
        client(source, keystone.token(MEMBER)) as alpha_there,
        client(importer, keystone.token("beta-member")) as beta_here,
        client(importer, keystone.token("admin")) as admin,
    ):
        private = upload(alpha_there, b"alpha's own", visibility="private")
        local = create(beta_here)
        assert glance_download(beta_here, local["id"], private["id"]).status_code == 202
        image = failed(admin, local["id"])
        assert "HTTP 404" in image["_task"]["message"]


def failed(admin: httpx.Client, image_id: str) -> dict[str, Any]:
    image = settled(admin, image_id)
    assert image["status"] == "queued", image
    assert image["_task"]["status"] == "failure"
    assert image["_task"]["message"]
    return image


def test_failures_are_recorded_on_the_image_and_the_task(
    keystone: Keystone, regions: Regions
) -> None:
    importer, source = regions.importer, regions.source
    token = keystone.token(MEMBER)
    with (
        client(source, token) as there,
        client(importer, token) as here,
        client(importer, keystone.token("admin")) as admin,
    ):
        good = upload(there, b"x" * 4096)
        waiting = create(there)  # queued: no data yet
        # raw bytes labelled qcow2: the source was told to take them, the importer's
        # format check (the same ingest as an upload) refuses them
        mislabelled = upload(there, b"\0" * 65536, disk_format="qcow2")
        cases = [
            (str(uuid.uuid4()), {}, "HTTP 404"),  # no such image in RegionTwo
            (good["id"], {"region": "RegionNine"}, "endpoint not found for region RegionNine"),
            (good["id"], {"glance_service_interface": "nowhere"}, "endpoint not found"),
            (waiting["id"], {}, "Source image status should be active instead of queued"),
            (mislabelled["id"], {}, "qcow2"),
        ]
        for remote_id, extra, expected in cases:
            local = create(here, name="doomed")
            response = glance_download(here, local["id"], remote_id, **extra)
            assert response.status_code == 202, response.text
            image = failed(admin, local["id"])
            assert expected in image["_task"]["message"], (expected, image["_task"])
            assert image["disk_format"] == "raw" and image.get("os_distro") is None
            assert here.get(f"/v2/images/{local['id']}/file").status_code == 204
            # a failed import can be tried again
            again = glance_download(here, local["id"], good["id"], region="regiontwo")
            assert again.status_code == 202, again.text
            assert settled(admin, local["id"])["status"] == "active"
        assert kept_tokens(importer) == []


def test_bad_requests_are_refused_before_any_job(keystone: Keystone, regions: Regions) -> None:
    importer = regions.importer
    with client(importer, keystone.token(MEMBER)) as here:
        local = create(here)
        remote_id = str(uuid.uuid4())
        for method, status in [
            ({"glance_image_id": remote_id}, 400),  # no region
            ({"glance_region": "RegionTwo"}, 400),  # no image id
            ({"glance_region": "RegionTwo", "glance_image_id": "not-a-uuid"}, 400),
            ({"glance_region": 2, "glance_image_id": remote_id}, 400),
            ({"glance_region": "R", "glance_image_id": 7}, 400),
            (
                {"glance_region": "R", "glance_image_id": remote_id, "glance_service_interface": 5},
                400,
            ),
        ]:
            body = {"method": {"name": "glance-download", **method}}
            response = here.post(f"/v2/images/{local['id']}/import", json=body)
            assert response.status_code == status, (method, response.text)
        bare = create(here, disk_format=None, container_format=None)
        assert glance_download(here, bare["id"], remote_id).status_code == 409
        assert here.get(f"/v2/images/{local['id']}").json()["status"] == "queued"
    with client(importer, keystone.token("beta-member")) as other:
        assert glance_download(other, local["id"], remote_id).status_code == 404


def crafted_remote(web: Web, record: dict[str, Any] | bytes, data: bytes = b"") -> str:
    """A remote image as RegionThree's endpoint describes it; its id."""
    remote_id = str(uuid.uuid4())
    body = record if isinstance(record, bytes) else json.dumps(record).encode()
    web.serve(f"/v2/images/{remote_id}", body)
    web.serve(f"/v2/images/{remote_id}/file", data)
    return remote_id


def record_of(data: bytes, **fields: Any) -> dict[str, Any]:
    return {
        "status": "active",
        "size": len(data),
        "disk_format": "raw",
        "container_format": "bare",
        "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data).hexdigest(),
        **fields,
    }


def test_what_a_broken_or_lying_remote_answers_is_refused(
    keystone: Keystone, regions: Regions
) -> None:
    data = b"the real bytes" * 1000
    web = regions.crafted
    cases = [
        (b"<html>maintenance</html>", "did not answer an image record"),
        (b"[1, 2]", "did not answer an image record"),
        (record_of(data, size=None), "Size attribute of remote image"),
        (record_of(data, disk_format="vhdz"), "has disk_format 'vhdz', which this service"),
        (record_of(data, container_format=None), "has container_format None"),
        (record_of(data, checksum="0" * 32), f"is not the remote's {'0' * 32}"),
        (record_of(data, checksum=None, os_hash_value="0" * 128), "sha512 is not the remote"),
        (record_of(data, size=10), f"data size {len(data)} is different from the expected 10"),
        (record_of(data, size=1 << 50), f"{1 << 50} bytes is over the limit of"),
    ]
    with (
        client(regions.importer, keystone.token(MEMBER)) as here,
        client(regions.importer, keystone.token("admin")) as admin,
    ):
        for record, expected in cases:
            remote_id = crafted_remote(web, record, data)
            local = create(here)
            response = glance_download(here, local["id"], remote_id, region="RegionThree")
            assert response.status_code == 202, response.text
            image = failed(admin, local["id"])
            assert expected in image["_task"]["message"], (expected, image["_task"])
            assert here.get(f"/v2/images/{local['id']}/file").status_code == 204


def test_properties_copied_and_the_token_kept_to_its_origin(
    keystone: Keystone, regions: Regions
) -> None:
    """Only prefixed properties are copied (never os_glance*, nor attributes such as
    os_hidden); the caller's token goes to the region's endpoint, and not to where a
    redirect of that endpoint leads elsewhere."""
    data = os.urandom(1 << 16)
    record = record_of(
        data,
        hw_numa_nodes=2,
        hw_unset=None,
        os_admin_user="root",
        os_glance_failed_import="forged",
        os_hidden=True,
        tags=["remote"],
        architecture="aarch64",
    )
    web, elsewhere = regions.crafted, regions.elsewhere
    remote_id = crafted_remote(web, b"", data)
    path = f"/v2/images/{remote_id}"
    seen: dict[str, dict[str, str]] = {}

    def moved(handler: BaseHTTPRequestHandler) -> None:
        seen["endpoint"] = dict(handler.headers)
        handler.send_response(302)
        handler.send_header("Location", elsewhere.url(path))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def answer(handler: BaseHTTPRequestHandler) -> None:
        seen["elsewhere"] = dict(handler.headers)
        body = json.dumps(record).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    web.routes[path] = moved
    elsewhere.routes[path] = answer
    token = keystone.new_token(MEMBER)
    with (
        client(regions.importer, token) as here,
        client(regions.importer, keystone.token("admin")) as admin,
    ):
        local = create(here)
        assert glance_download(here, local["id"], remote_id, region="RegionThree").is_success
        image = settled(admin, local["id"])
        assert image["status"] == "active", image
    assert seen["endpoint"]["X-Auth-Token"] == token
    assert "X-Auth-Token" not in seen["elsewhere"]
    assert (image["hw_numa_nodes"], image["os_admin_user"]) == ("2", "root")
    for absent in ("hw_unset", "os_glance_failed_import", "architecture"):
        assert absent not in image
    assert image["os_hidden"] is False and image["tags"] == []


def test_a_token_keystone_no_longer_accepts_fails_the_import(
    keystone: Keystone, regions: Regions
) -> None:
    token = keystone.new_token(MEMBER)
    with (
        client(regions.importer, token) as here,
        client(regions.importer, keystone.token("admin")) as admin,
    ):
        local = create(here)  # glimpse has seen the token: it stays in its cache
        keystone.revoke(token)
        response = glance_download(here, local["id"], str(uuid.uuid4()))
        assert response.status_code == 202, response.text
        image = failed(admin, local["id"])
        assert "Keystone no longer accepts the caller's token" in image["_task"]["message"]


def test_keystone_out_of_reach_fails_the_import(keystone: Keystone, tmp_path: Path) -> None:
    """The catalog is asked when the job runs: a Keystone gone by then (the token still
    in glimpse's cache) is a recorded failure, not a stuck import."""
    instance = KeystoneInstance(keystone.run_dir, tmp_path / "keystone.log")
    env = keystone.server_env(
        GLIMPSE_KEYSTONE_AUTH_URL=instance.url,
        GLIMPSE_ENABLED_IMPORT_METHODS=json.dumps(["glance-download"]),
    )
    try:
        with (
            ServerProcess(tmp_path, env=env) as server,
            client(server, keystone.token(MEMBER)) as here,
            client(server, keystone.token("admin")) as admin,
        ):
            local = create(here)
            admin.get("/v2/images")  # both tokens now in glimpse's cache
            instance.stop()
            response = glance_download(here, local["id"], str(uuid.uuid4()))
            assert response.status_code == 202, response.text
            image = failed(admin, local["id"])
            assert "Keystone at" in image["_task"]["message"], image["_task"]
    finally:
        instance.stop()


def test_a_killed_worker_s_glance_download_is_resumed_by_another(
    keystone: Keystone, regions: Regions, tmp_path: Path
) -> None:
    """The caller's token travels with the task: a second node's worker (its own
    process, sharing only the database and the stores) resumes the download of a worker
    SIGKILLed mid-transfer, as the caller, and the import completes."""
    data = os.urandom(1 << 20)
    fetches: list[str | None] = []

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        fetches.append(handler.headers.get("X-Auth-Token"))
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if len(fetches) == 1:  # the first fetch crawls: its worker is killed meanwhile
            for start in range(0, len(data), 4096):
                handler.wfile.write(data[start : start + 4096])
                time.sleep(0.2)
            return
        handler.wfile.write(data)

    web = regions.crafted
    remote_id = crafted_remote(web, record_of(data))
    web.routes[f"/v2/images/{remote_id}/file"] = trickle
    shared = tmp_path / "shared"
    stores = {
        "fast": {"type": "file", "directory": str(shared / "fast")},
        "os_glance_staging_store": {"type": "file", "directory": str(shared / "staging")},
    }
    env = keystone.server_env(
        GLIMPSE_DATABASE_URL=f"sqlite:///{shared}/glimpse.db",
        GLIMPSE_STORES=json.dumps(stores),
        GLIMPSE_ENABLED_IMPORT_METHODS=json.dumps(["glance-download"]),
        GLIMPSE_IMPORT_ALLOWED_HOSTS=json.dumps(["127.0.0.1"]),
        GLIMPSE_IMPORT_ALLOWED_PORTS=json.dumps([web.port]),
        GLIMPSE_TASK_LEASE_SECONDS="2",
    )
    shared.mkdir()
    (tmp_path / "api").mkdir()
    token = keystone.new_token(MEMBER)
    with (
        ServerProcess(tmp_path / "api", env={**env, "GLIMPSE_RUN_WORKERS": "false"}) as api,
        client(api, token) as here,
        client(api, keystone.token("admin")) as admin,
    ):
        local = create(here)
        first = start_worker(env, tmp_path / "first")
        try:
            assert glance_download(here, local["id"], remote_id, region="RegionThree").is_success
            deadline = time.monotonic() + 30
            while True:  # until the first worker is fetching, and says how far it got
                (task,) = admin.get(f"/v2/images/{local['id']}/tasks").json()["tasks"]
                if task["status"] == "processing" and task["message"].startswith("Copied"):
                    break
                assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()
                time.sleep(0.1)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        assert here.get(f"/v2/images/{local['id']}").json()["status"] == "importing"
        second = start_worker(env, tmp_path / "second")
        try:
            image = settled(admin, local["id"])
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
        assert image["status"] == "active", (image, (tmp_path / "second.log").read_text())
        assert image["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
        assert here.get(f"/v2/images/{local['id']}/file").content == data
    assert fetches == [token, token]
    with sqlite3.connect(shared / "glimpse.db") as db:
        assert db.execute("SELECT auth_token FROM tasks").fetchall() == [(None,)]


def start_worker(env: dict[str, str], data_dir: Path) -> subprocess.Popen[bytes]:
    """``glimpse worker`` alone, as another node would run it."""
    with open(f"{data_dir}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "glimpse", "worker"],
            env={**os.environ, **env, "GLIMPSE_DATA_DIR": str(data_dir)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
