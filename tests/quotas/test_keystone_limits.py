"""Unified limits from a real Keystone (``use_keystone_limits`` in keystone mode): the
registered and project limits of the ``image`` service, read with oslo.limit by a real
``glimpse serve``; openstacksdk, through the catalog, meets the 413."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openstack
import pytest
from openstack import exceptions as sdk_exceptions

from tests.support.keystone import Keystone
from tests.support.server import ServerProcess, free_port

pytestmark = [
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]

MIB = 1 << 20
REGION = "RegionOne"


class KeystoneLimits:
    """Registered and project limits of the image service, set through Keystone's API."""

    def __init__(self, keystone: Keystone) -> None:
        self.api = keystone.admin_api
        services = self.api.get("/services", params={"type": "image"}).json()["services"]
        self.service_id = services[0]["id"]

    def register(self, resource: str, default: int) -> None:
        found = self.api.get(
            "/registered_limits",
            params={"service_id": self.service_id, "resource_name": resource, "region_id": REGION},
        ).json()["registered_limits"]
        if found and found[0]["default_limit"] == default:
            return  # (Keystone refuses to change one that project limits refer to)
        if found:
            self.api.patch(
                f"/registered_limits/{found[0]['id']}",
                json={"registered_limit": {"default_limit": default}},
            )
            return
        self.api.post(
            "/registered_limits",
            json={"registered_limits": [{"service_id": self.service_id, "region_id": REGION,
                                         "resource_name": resource, "default_limit": default}]},
        )  # fmt: skip

    def set(self, project_id: str, resource: str, limit: int) -> None:
        found = self.api.get(
            "/limits",
            params={"service_id": self.service_id, "resource_name": resource,
                    "project_id": project_id, "region_id": REGION},
        ).json()["limits"]  # fmt: skip
        if found:
            self.api.patch(f"/limits/{found[0]['id']}", json={"limit": {"resource_limit": limit}})
            return
        self.api.post(
            "/limits",
            json={"limits": [{"service_id": self.service_id, "region_id": REGION,
                              "project_id": project_id, "resource_name": resource,
                              "resource_limit": limit}]},
        )  # fmt: skip


@pytest.fixture(scope="module")
def limited_server(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """glimpse in keystone mode with unified limits, the catalog's image endpoint."""
    with ServerProcess(
        tmp_path_factory.mktemp("glimpse-limits"),
        env=keystone.server_env(GLIMPSE_USE_KEYSTONE_LIMITS="true"),
    ) as running:
        keystone.set_image_endpoint(running.url)
        yield running


@pytest.fixture(scope="module")
def limits(keystone: Keystone, limited_server: ServerProcess) -> KeystoneLimits:
    found = KeystoneLimits(keystone)
    found.register("image_size_total", 1)
    found.register("image_stage_total", 1)
    found.register("image_count_total", 2)
    found.register("image_count_uploading", 1)
    alpha = keystone.users["alpha-member"].project_id
    found.set(alpha, "image_count_total", 3)
    found.set(alpha, "image_size_total", 4)
    return found


def client(keystone: Keystone, server: ServerProcess, user: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"X-Auth-Token": keystone.new_token(user), "Accept": "application/json"},
        timeout=30,
    )


def test_counts_from_keystone_registered_and_project_limits(
    keystone: Keystone, limited_server: ServerProcess, limits: KeystoneLimits
) -> None:
    alpha_project = keystone.users["alpha-member"].project_id
    with (
        client(keystone, limited_server, "alpha-member") as alpha,
        client(keystone, limited_server, "beta-member") as beta,
    ):
        for http, allowed in ((alpha, 3), (beta, 2)):  # project limit; registered default
            for _ in range(allowed):
                assert http.post("/v2/images", json={}).status_code == 201
            refused = http.post("/v2/images", json={})
            assert refused.status_code == 413
            assert f"image_count_total is over limit of {allowed}" in refused.json()["message"]
        usage = alpha.get("/v2/info/usage").json()["usage"]
        assert usage == {
            "image_size_total": {"usage": 0, "limit": 4},
            "image_stage_total": {"usage": 0, "limit": 1},
            "image_count_total": {"usage": 3, "limit": 3},
            "image_count_uploading": {"usage": 0, "limit": 1},
        }
        # a limit raised in Keystone counts at once
        limits.set(alpha_project, "image_count_total", 4)
        assert alpha.post("/v2/images", json={}).status_code == 201
        for listed in alpha.get("/v2/images").json()["images"]:
            alpha.delete(f"/v2/images/{listed['id']}")
        for listed in beta.get("/v2/images").json()["images"]:
            beta.delete(f"/v2/images/{listed['id']}")


def test_openstacksdk_upload_over_image_size_total(
    keystone: Keystone, limited_server: ServerProcess, limits: KeystoneLimits
) -> None:
    account = keystone.users["alpha-member"]
    conn = openstack.connect(
        auth_url=keystone.url,
        username=account.username,
        password=account.password,
        project_name=account.project_name,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=REGION,
        interface="public",
    )
    try:
        made = conn.image.create_image(
            name=f"fits-{uuid.uuid4().hex[:6]}", data=os.urandom(3 * MIB), disk_format="raw",
            container_format="bare", wait=True,
        )  # fmt: skip
        assert conn.image.get_image(made.id).status == "active"
        with pytest.raises(sdk_exceptions.HttpException) as refused:  # 3 + 2 MiB is over 4
            conn.image.create_image(
                name="over", data=os.urandom(2 * MIB), disk_format="raw", container_format="bare",
                wait=True,
            )  # fmt: skip
        assert refused.value.status_code == 413
        assert "image_size_total is over limit of 4" in refused.value.response.text
        # nothing of it kept (the SDK may delete the record it made)
        assert all(i.status == "queued" for i in conn.image.images() if i.name == "over")
        for image in conn.image.images():
            conn.image.delete_image(image)
    finally:
        conn.close()


async def test_limits_that_cannot_be_read_refuse_the_request(tmp_path: Path) -> None:
    """Keystone out of reach: 503 (BackendUnavailable), never a free pass."""
    from glimpse.config import Settings
    from glimpse.errors import BackendUnavailable
    from glimpse.quotas.limits import KeystoneLimits as Source

    settings = Settings(
        data_dir=tmp_path,
        auth_mode="keystone",
        use_keystone_limits=True,
        keystone_auth_url=f"http://127.0.0.1:{free_port()}/v3",
        keystone_username="glimpse",
        keystone_password="secret",
        keystone_timeout_seconds=2,
    )
    with pytest.raises(BackendUnavailable, match="limits of project alpha cannot be read"):
        await Source(settings).limits("alpha")
