"""The real clients' import commands against a real glimpse server with two file stores
and the import methods enabled: ``openstack image create --import``, ``openstack image
import --method web-download|copy-image --store``, openstacksdk's
``create_image(use_import=True)`` and ``glance image-create-via-import``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.app import Glimpse
from glimpse.config import Settings
from tests.conftest import wipe
from tests.imports.conftest import md5
from tests.support.server import ServerProcess
from tests.support.web import Web

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
OPENSTACK = BIN / "openstack"
GLANCE = BIN / "glance"


@pytest.fixture(scope="module")
def web_source() -> Iterator[Web]:
    server = Web()
    yield server
    server.close()


@pytest.fixture(scope="module")
def import_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, web_source: Web
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("import-server")
    stores = {
        "fast": {"type": "file", "directory": str(data_dir / "fast"), "weight": 100},
        "cheap": {"type": "file", "directory": str(data_dir / "cheap")},
        "os_glance_staging_store": {"type": "file", "directory": str(data_dir / "staging")},
    }
    # copy-image is for admins; the CLI without Keystone sends no roles, so this
    # deployment lets anyone copy (an operator's policy file, as with Glance)
    policy = data_dir / "policy.yaml"
    policy.write_text('"copy_image": ""\n')
    env = {
        "GLIMPSE_POLICY_FILE": str(policy),
        "GLIMPSE_DATABASE_URL": database_url,
        "GLIMPSE_STORES": json.dumps(stores),
        "GLIMPSE_DEFAULT_STORE": "fast",
        "GLIMPSE_ENABLED_IMPORT_METHODS": json.dumps(
            ["glance-direct", "web-download", "copy-image"]
        ),
        "GLIMPSE_IMPORT_ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
        "GLIMPSE_IMPORT_ALLOWED_PORTS": json.dumps([web_source.port]),
    }
    with ServerProcess(data_dir, env=env) as running:
        yield running


@pytest.fixture
def importing(import_server: ServerProcess, database_url: str, data_dir: Path) -> Iterator[str]:
    app = Glimpse(Settings(database_url=database_url, data_dir=data_dir, auth_mode="noauth"))
    wipe(app)
    app.db.close()
    yield import_server.url


def active(endpoint: str, image_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        image: dict[str, Any] = httpx.get(f"{endpoint}/v2/images/{image_id}").json()
        if image["status"] == "active" and not image.get("os_glance_importing_to_stores"):
            return image
        assert image["status"] not in ("queued", "killed") or time.monotonic() < deadline, image
        assert time.monotonic() < deadline, image
        time.sleep(0.1)


def openstack(endpoint: str, *args: str) -> Any:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=endpoint)
    done = subprocess.run(
        [OPENSTACK, *args, "-f", "json"], capture_output=True, env=env, timeout=120,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.mark.skipif(not OPENSTACK.exists(), reason="python-openstackclient is not installed")
def test_openstack_cli_imports(importing: str, tmp_path: Path, web_source: Web) -> None:
    data = os.urandom(2 << 20)
    source = tmp_path / "image.raw"
    source.write_bytes(data)
    created = openstack(
        importing, "image", "create", "--import", "--disk-format", "raw",
        "--container-format", "bare", "--file", str(source), "via-cli",
    )  # fmt: skip
    image = active(importing, created["id"])
    assert image["checksum"] == md5(data) and image["stores"] == "fast"

    # web-download into a queued image, to the named store
    # (created over HTTP: `image create` would upload its empty stdin)
    queued = httpx.post(
        f"{importing}/v2/images",
        json={"name": "web", "disk_format": "raw", "container_format": "bare"},
    ).json()
    uri = web_source.serve("/cli.raw", data)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    env.update(OS_AUTH_TYPE="none", OS_ENDPOINT=importing)
    done = subprocess.run(
        # the image first: --store takes several values
        [OPENSTACK, "image", "import", queued["id"], "--method", "web-download", "--uri", uri,
         "--store", "cheap"],
        capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    image = active(importing, queued["id"])
    assert image["checksum"] == md5(data) and image["stores"] == "cheap"

    # copy-image of the first image to the other store
    done = subprocess.run(
        [OPENSTACK, "image", "import", created["id"], "--method", "copy-image",
         "--store", "cheap"],
        capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    deadline = time.monotonic() + 20
    while httpx.get(f"{importing}/v2/images/{created['id']}").json()["stores"] != "fast,cheap":
        tasks = httpx.get(f"{importing}/v2/images/{created['id']}/tasks").json()
        assert time.monotonic() < deadline, tasks
        time.sleep(0.1)
    saved = tmp_path / "saved.raw"
    subprocess.run(
        [OPENSTACK, "image", "save", "--file", str(saved), created["id"]],
        check=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert saved.read_bytes() == data


@pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning")
@pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning")
def test_openstacksdk_create_image_use_import(importing: str, tmp_path: Path) -> None:
    sdk = pytest.importorskip("openstack.connection", reason="openstacksdk is not installed")
    data = os.urandom(1 << 20)
    source = tmp_path / "sdk.raw"
    source.write_bytes(data)
    conn = sdk.Connection(
        auth_type="none", auth={"endpoint": importing}, image_endpoint_override=importing
    )
    # the SDK leaves a file it opened itself open: hand it one this test closes
    try:
        with source.open("rb") as stream:
            image = conn.create_image(
                "via-sdk",
                data=stream,
                disk_format="raw",
                container_format="bare",
                use_import=True,
                wait=True,
                timeout=60,
            )
    finally:
        conn.close()
    shown = active(importing, image.id)
    assert shown["checksum"] == md5(data)


@pytest.mark.skipif(not GLANCE.exists(), reason="python-glanceclient is not installed")
def test_glance_image_create_via_import(importing: str, tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    source = tmp_path / "glance.raw"
    source.write_bytes(data)
    env = {key: value for key, value in os.environ.items() if not key.startswith("OS_")}
    # stdin a terminal: the client would otherwise take it for image data
    leader, follower = os.openpty()
    done = subprocess.run(
        [GLANCE, "--os-image-url", importing, "--os-auth-token", "x", "image-create-via-import",
         "--disk-format", "raw", "--container-format", "bare", "--name", "via-glance",
         "--file", str(source), "--import-method", "glance-direct"],
        capture_output=True, env=env, timeout=120, stdin=follower,
    )  # fmt: skip
    os.close(leader)
    os.close(follower)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    listed = httpx.get(f"{importing}/v2/images", params={"name": "via-glance"}).json()
    (image,) = listed["images"]
    shown = active(importing, image["id"])
    assert shown["checksum"] == md5(data)
