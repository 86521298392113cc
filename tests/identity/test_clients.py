"""End to end: the ``openstack`` CLI and openstacksdk log in to a real glimpse server with
password auth from a plain ``clouds.yaml`` (``auth_url`` at its ``/identity/v3``), find
the image service in the catalog, and work with images as a member and as an admin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.identity.conftest import PASSWORD, Live

pytestmark = [
    pytest.mark.e2e,
    # the SDK warns about its own internals
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]
openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
from keystoneauth1.exceptions.http import Unauthorized  # noqa: E402
from openstack import exceptions  # noqa: E402

OPENSTACK = Path(sys.executable).with_name("openstack")
DATA = os.urandom(1 << 20)


@pytest.fixture
def clouds(live_builtin: Live, tmp_path: Path) -> Iterator[Path]:
    """A clouds.yaml as a user would write it: one cloud per account."""

    def cloud(user: str, project: str) -> dict[str, Any]:
        return {
            "auth": {
                "auth_url": f"{live_builtin.url}/identity/v3",
                "username": user,
                "password": PASSWORD,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
        }

    path = tmp_path / "clouds.yaml"
    document = {
        "clouds": {
            "alice": cloud("alice", "alpha"),
            "bob": cloud("bob", "beta"),
            "root": cloud("root", "alpha"),
        }
    }
    path.write_text(yaml.safe_dump(document))
    yield path


class Cli:
    def __init__(self, clouds: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["OS_CLIENT_CONFIG_FILE"] = str(clouds)

    def run(self, cloud: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OPENSTACK), "--os-cloud", cloud, *args],
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    def json(self, cloud: str, *args: str) -> Any:
        done = self.run(cloud, *args, "-f", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.mark.skipif(not OPENSTACK.exists(), reason="python-openstackclient is not installed")
def test_openstack_cli_with_password_auth(clouds: Path, live_builtin: Live, tmp_path: Path) -> None:
    cli = Cli(clouds)
    image_file = tmp_path / "disk.raw"
    image_file.write_bytes(DATA)
    created = cli.json(
        "alice", "image", "create", "--disk-format", "raw", "--container-format", "bare",
        "--file", str(image_file), "cli-image",
    )  # fmt: skip
    assert created["status"] == "active"
    assert created["size"] == len(DATA)
    assert created["owner"] == live_builtin.accounts.projects["alpha"]
    image_id = created["id"]
    assert image_id in [image["ID"] for image in cli.json("alice", "image", "list")]
    assert cli.json("alice", "image", "show", image_id)["name"] == "cli-image"

    # another project does not see it; a member cannot make it public, an admin can
    assert cli.run("bob", "image", "show", image_id).returncode != 0
    refused = cli.run("alice", "image", "set", "--public", image_id)
    assert refused.returncode != 0 and "403" in refused.stderr
    assert cli.run("root", "image", "set", "--public", image_id).returncode == 0
    assert cli.json("bob", "image", "show", image_id)["visibility"] == "public"

    assert cli.run("alice", "image", "delete", image_id).returncode == 0
    assert image_id not in [image["ID"] for image in cli.json("root", "image", "list")]


def test_openstacksdk_with_password_auth(
    clouds: Path, live_builtin: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    alice = openstack.connect(cloud="alice")
    root = openstack.connect(cloud="root")
    bob = openstack.connect(cloud="bob")
    try:
        assert alice.current_project_id == live_builtin.accounts.projects["alpha"]
        image = alice.image.create_image(
            "sdk-image", data=DATA, disk_format="raw", container_format="bare",
            allow_duplicates=True,
        )  # fmt: skip
        image = alice.image.get_image(image.id)
        assert image.status == "active" and image.size == len(DATA)
        assert image.owner == live_builtin.accounts.projects["alpha"]
        assert (
            b"".join(alice.image.download_image(image, stream=True).iter_content(1 << 16)) == DATA
        )
        assert [i.id for i in alice.image.images()] == [image.id]
        assert list(bob.image.images()) == []
        with pytest.raises(exceptions.NotFoundException):
            bob.image.get_image(image.id)
        with pytest.raises(exceptions.ForbiddenException):
            alice.image.update_image(image, visibility="public")
        assert root.image.update_image(image, visibility="public").visibility == "public"
        alice.image.delete_image(image)
        with pytest.raises(exceptions.NotFoundException):
            alice.image.get_image(image.id)
    finally:
        for conn in (alice, root, bob):
            conn.close()


def test_wrong_password_is_refused_by_the_sdk(
    clouds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load(clouds.read_text())
    document["clouds"]["alice"]["auth"]["password"] = "wrong"
    clouds.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    conn = openstack.connect(cloud="alice")
    try:
        # keystoneauth's own error: the login itself was refused
        with pytest.raises(Unauthorized) as caught:
            list(conn.image.images())
        assert caught.value.http_status == 401
    finally:
        conn.close()
