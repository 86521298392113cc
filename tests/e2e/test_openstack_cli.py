"""The ``openstack`` CLI (python-openstackclient, run as a subprocess) against a real glimpse
server.

Each CLI run costs about a second of start-up, so the tests keep their runs few and check
state that is not the point of the test straight over HTTP (``live``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    BIG,
    SMALL,
    Payload,
    assert_same_bytes,
    assert_stored,
    create_image,
    get_image,
    seed_list_images,
)

pytestmark = pytest.mark.e2e

OPENSTACK = Path(sys.executable).with_name("openstack")
if not OPENSTACK.exists():
    pytest.skip(
        f"python-openstackclient is not installed ({OPENSTACK} is missing)",
        allow_module_level=True,
    )

CREATE = ["image", "create", "--disk-format", "raw", "--container-format", "bare"]


class Cli:
    """Runs ``openstack`` against one endpoint with no Keystone: ``OS_AUTH_TYPE=none`` and
    ``OS_ENDPOINT=<url>`` (the same as ``--os-auth-type none --os-endpoint <url>``)."""

    def __init__(self, endpoint: str) -> None:
        # Drop any OS_* settings of the caller's shell so that only these apply.
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
        self.env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=endpoint)

    def run(self, *args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run one command. ``image create`` uploads whatever its stdin gives when stdin is
        not a terminal, so without ``data`` stdin is a pseudo-terminal (no data: the image
        stays queued); with ``data`` it is a pipe (unknown length: streamed chunked)."""
        if data is not None:
            return subprocess.run(
                [OPENSTACK, *args], input=data, capture_output=True, env=self.env, timeout=120
            )
        leader, follower = os.openpty()
        try:
            return subprocess.run(
                [OPENSTACK, *args], stdin=follower, capture_output=True, env=self.env, timeout=120
            )
        finally:
            os.close(leader)
            os.close(follower)

    def ok(self, *args: str, data: bytes | None = None) -> str:
        done = self.run(*args, data=data)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode()

    def json(self, *args: str, data: bytes | None = None) -> Any:
        return json.loads(self.ok(*args, "-f", "json", data=data))


@pytest.fixture
def cli(endpoint: str) -> Cli:
    return Cli(endpoint)


def api_fields(shown: dict[str, Any]) -> dict[str, Any]:
    """``image show``/``create`` output with the API's field names back at top level (OSC
    files os_hash_* and custom properties under ``properties``)."""
    return {**shown.get("properties", {}), **shown}


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["Name"] for row in rows]


def get_id(shown: dict[str, Any]) -> str:
    image_id: str = shown["id"]
    return image_id


def test_create_with_file_uploads_it_and_save_downloads_it(cli: Cli, tmp_path: Path) -> None:
    payload = Payload.random(SMALL)
    source = tmp_path / "image.raw"
    source.write_bytes(payload.data)
    # --file: a regular file, so the upload has a known length (Content-Length).
    shown = cli.json(*CREATE, "--file", str(source), "--property", "os_distro=cirros", "filed")
    image = api_fields(shown)
    assert_stored(image, payload)
    assert image["os_distro"] == "cirros"

    target = tmp_path / "saved.raw"
    cli.ok("image", "save", "--file", str(target), image["id"])
    assert target.read_bytes() == payload.data


def test_create_from_stdin_streams_64_mib(cli: Cli, tmp_path: Path) -> None:
    payload = Payload.random(BIG)
    # stdin is a pipe: no length known, so requests sends it with Transfer-Encoding: chunked
    # (iterating the pipe, which makes many small chunks of random-data "lines").
    image = api_fields(cli.json(*CREATE, "piped", data=payload.data))
    assert_stored(image, payload)

    target = tmp_path / "saved.raw"
    cli.ok("image", "save", "--file", str(target), image["id"])
    with target.open("rb") as saved:
        assert_same_bytes(iter(lambda: saved.read(1 << 20), b""), payload)


def test_list_filters_sort_and_pagination(cli: Cli, live: httpx.Client) -> None:
    ids = seed_list_images(live)

    def listed(*args: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = cli.json("image", "list", *args)
        return rows

    assert names(listed("--name", "beta")) == ["beta"]
    # --sort is applied by the CLI, after the server's status filter.
    assert names(listed("--status", "active", "--sort", "name:desc")) == ["gamma", "alpha"]
    # --tag is a server filter, --property a client one: each removes a different image.
    tagged = listed("--tag", "gold", "--property", "os_distro=ubuntu", "--long")
    assert names(tagged) == ["alpha"]
    assert tagged[0]["Tags"] == ["gold"]
    # --limit turns off the SDK's paging: one page, then --marker fetches the rest. The CLI
    # re-sorts its rows by name, so the server's own order comes from the API.
    order = [image["id"] for image in live.get("/v2/images").json()["images"]]
    assert sorted(order) == sorted(ids.values())
    first = listed("--limit", "2")
    assert {row["ID"] for row in first} == set(order[:2])
    rest = listed("--limit", "2", "--marker", order[1])
    assert [row["ID"] for row in rest] == order[2:]


def test_set_and_unset(cli: Cli, live: httpx.Client) -> None:
    image_id = create_image(live, "before", os_distro="ubuntu", color="red", tags=["old"])
    changes = ["--name", "after", "--property", "color=blue", "--property", "arch=x86_64"]
    cli.ok("image", "set", *changes, "--min-ram", "512", "--protected", "--tag", "fresh", image_id)
    cli.ok("image", "unset", "--property", "os_distro", "--tag", "old", image_id)

    shown = api_fields(cli.json("image", "show", image_id))
    assert shown["name"] == "after"
    assert (shown["color"], shown["arch"]) == ("blue", "x86_64")
    assert "os_distro" not in shown
    assert shown["min_ram"] == 512
    assert shown["protected"] is True
    assert shown["tags"] == ["fresh"]


def test_deactivate_and_reactivate(cli: Cli, live: httpx.Client, tmp_path: Path) -> None:
    payload = Payload.random(SMALL)
    image_id = create_image(live, "switch", payload.data)

    cli.ok("image", "set", "--deactivate", image_id)
    assert get_image(live, image_id)["status"] == "deactivated"
    # The unauthenticated context is admin, and admins may still download.
    target = tmp_path / "saved.raw"
    cli.ok("image", "save", "--file", str(target), image_id)
    assert target.read_bytes() == payload.data

    cli.ok("image", "set", "--activate", image_id)
    assert get_image(live, image_id)["status"] == "active"


def test_create_without_data_then_protected_delete(cli: Cli, live: httpx.Client) -> None:
    created = ["--min-ram", "64", "--tag", "new", "--protected", "guarded"]
    shown = cli.json(*CREATE, *created)
    image_id = get_id(shown)
    assert shown["status"] == "queued"
    assert (shown["min_ram"], shown["tags"], shown["protected"]) == (64, ["new"], True)

    refused = cli.run("image", "delete", image_id)
    assert refused.returncode != 0
    assert b"403" in refused.stderr
    assert get_image(live, image_id)["status"] == "queued"

    cli.ok("image", "set", "--unprotected", image_id)
    cli.ok("image", "delete", image_id)
    assert live.get(f"/v2/images/{image_id}").status_code == 404
