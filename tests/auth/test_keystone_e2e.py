"""End to end as a user of an OpenStack cloud: the ``openstack`` CLI and openstacksdk with a
real ``clouds.yaml`` whose ``auth_url`` is the test Keystone, whose catalog names glimpse
(in keystone mode) as the ``image`` endpoint. Nothing tells the clients where glimpse is
but the catalog."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.keystone import Keystone
from tests.support.server import ServerProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

OPENSTACK = Path(sys.executable).with_name("openstack")
CLOUD = "glimpse-alpha"


@pytest.fixture(scope="module")
def clouds_yaml(
    keystone: Keystone, glimpse_keystone: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    keystone.set_image_endpoint(glimpse_keystone.url)
    account = keystone.users["alpha-member"]
    clouds = {
        "clouds": {
            CLOUD: {
                "auth": {
                    "auth_url": keystone.url,
                    "username": account.username,
                    "password": account.password,
                    "project_name": account.project_name,
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": "RegionOne",
                "identity_api_version": 3,
                "interface": "public",
            }
        }
    }
    path = tmp_path_factory.mktemp("cloud") / "clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    return path


@pytest.fixture
def disk_file(tmp_path: Path) -> tuple[Path, str]:
    data = os.urandom(1 << 20)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    return path, hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_openstack_cli_through_the_catalog(
    keystone: Keystone, clouds_yaml: Path, disk_file: tuple[Path, str]
) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds_yaml), OS_CLOUD=CLOUD)

    def openstack(*args: str, check: bool = True) -> Any:
        done = subprocess.run(
            [OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=120
        )
        if not check:
            return done
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if "-f" in args else done.stdout

    path, md5 = disk_file
    name = f"cli-{uuid.uuid4().hex[:8]}"
    create = ["image", "create", "--disk-format", "raw", "--container-format", "bare"]
    created = openstack(*create, "--private", "--file", str(path), name, "-f", "json")
    assert created["owner"] == keystone.users["alpha-member"].project_id
    listed = openstack("image", "list", "-f", "json")
    assert created["id"] in {image["ID"] for image in listed}
    shown = openstack("image", "show", created["id"], "-f", "json")
    assert (shown["status"], shown["checksum"], shown["name"]) == ("active", md5, name)
    openstack("image", "delete", created["id"])
    gone = openstack("image", "show", created["id"], check=False)
    assert gone.returncode != 0
    assert "No Image found" in gone.stderr or "404" in gone.stderr


def test_openstacksdk_through_the_catalog(
    keystone: Keystone,
    glimpse_keystone: ServerProcess,
    clouds_yaml: Path,
    disk_file: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import openstack
    from openstack import exceptions

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    conn = openstack.connect(cloud=CLOUD)
    try:
        assert conn.image.get_endpoint().startswith(glimpse_keystone.url)
        path, md5 = disk_file
        # data= rather than filename=: the SDK never closes a file it opens itself
        with path.open("rb") as data:
            image = conn.image.create_image(
                f"sdk-{uuid.uuid4().hex[:8]}",
                data=data,
                disk_format="raw",
                container_format="bare",
                visibility="private",
            )
        shown = conn.image.get_image(image.id)
        assert (shown.status, shown.checksum) == ("active", md5)
        assert shown.owner_id == keystone.users["alpha-member"].project_id
        assert image.id in {found.id for found in conn.image.images()}
        conn.image.delete_image(image.id)
        with pytest.raises(exceptions.NotFoundException):
            conn.image.get_image(image.id)
    finally:
        conn.close()
