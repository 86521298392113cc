"""``auth_mode = keystone`` against the real Keystone of the test run: real tokens from
keystoneauth1, a real ``glimpse serve`` process, Glance's secure-RBAC defaults."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.keystone import Keystone
from tests.support.server import ServerProcess

IMAGE = {"disk_format": "raw", "container_format": "bare"}


def create(client: httpx.Client, **attrs: Any) -> dict[str, Any]:
    response = client.post(
        "/v2/images", json={"name": f"img-{uuid.uuid4().hex[:8]}", **IMAGE, **attrs}
    )
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    return image


def upload(client: httpx.Client, image_id: str, data: bytes) -> httpx.Response:
    return client.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )


def listed_ids(client: httpx.Client) -> set[str]:
    response = client.get("/v2/images", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {image["id"] for image in response.json()["images"]}


def assert_refused(response: httpx.Response, keystone: Keystone) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{keystone.url}"'


# ----------------------------------------------------------------------------- tokens


def test_member_token_creates_uploads_and_owns(keystone: Keystone, as_user: Any) -> None:
    alpha = as_user("alpha-member")
    image = create(alpha)
    assert image["owner"] == keystone.users["alpha-member"].project_id
    assert upload(alpha, image["id"], os.urandom(4096)).status_code == 204
    shown = alpha.get(f"/v2/images/{image['id']}")
    assert shown.status_code == 200
    assert shown.json()["status"] == "active"
    assert image["id"] in listed_ids(alpha)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Auth-Token": ""}, {"X-Auth-Token": "not-a-token"}, {"X-Auth-Token": "gAAAAAB" * 30}],
    ids=["none", "empty", "garbage", "fernet-like"],
)
def test_missing_or_garbage_token_is_refused(
    keystone: Keystone, glimpse_keystone: ServerProcess, headers: dict[str, str]
) -> None:
    for method, path in [
        ("GET", "/v2/images"),
        ("POST", "/v2/images"),
        ("GET", "/v2/schemas/image"),
    ]:
        response = httpx.request(method, glimpse_keystone.url + path, headers=headers, json={})
        assert_refused(response, keystone)


def test_versions_and_healthcheck_need_no_token(glimpse_keystone: ServerProcess) -> None:
    assert httpx.get(glimpse_keystone.url + "/healthcheck").status_code == 200
    assert httpx.get(glimpse_keystone.url + "/versions").status_code == 200


def test_revoked_token_is_refused(keystone: Keystone, as_user: Any) -> None:
    token = keystone.new_token("alpha-member")
    keystone.revoke(token)
    assert_refused(as_user("alpha-member", token=token).get("/v2/images"), keystone)


def test_expired_token_is_refused_even_though_it_was_cached(
    keystone: Keystone, as_user: Any
) -> None:
    # the token cache keeps entries 300 s here: only the token's own expiry ends this one
    token, expires = keystone.short_lived_token("alpha-member", seconds=4)
    client = as_user("alpha-member", token=token)
    assert client.get("/v2/images").status_code == 200
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1)
    assert_refused(client.get("/v2/images"), keystone)


# ------------------------------------------------------------------- projects and roles


def test_other_project_cannot_see_or_change_a_private_image(as_user: Any) -> None:
    alpha = as_user("alpha-member")
    image = create(alpha, visibility="private")
    assert upload(alpha, image["id"], b"alpha's bytes").status_code == 204
    path = f"/v2/images/{image['id']}"
    for name in ("beta-member", "beta-reader"):
        beta = as_user(name)
        assert beta.get(path).status_code == 404
        assert image["id"] not in listed_ids(beta)
        assert beta.get(f"{path}/file").status_code == 404
    beta = as_user("beta-member")
    patch = [{"op": "replace", "path": "/name", "value": "taken"}]
    patched = beta.patch(
        path, json=patch, headers={"Content-Type": "application/openstack-images-v2.1-json-patch"}
    )
    assert patched.status_code == 404
    assert upload(beta, image["id"], b"beta's bytes").status_code == 404
    assert beta.delete(path).status_code == 404
    after = alpha.get(path).json()
    assert after["name"] == image["name"]
    assert after["status"] == "active"
    assert alpha.get(f"{path}/file").content == b"alpha's bytes"


def test_reader_reads_but_cannot_write(as_user: Any) -> None:
    alpha = as_user("alpha-member")
    image = create(alpha)
    reader = as_user("alpha-reader")
    path = f"/v2/images/{image['id']}"
    assert reader.get(path).status_code == 200
    assert image["id"] in listed_ids(reader)
    refused = reader.post("/v2/images", json={"name": "by-reader", **IMAGE})
    assert refused.status_code == 403
    assert upload(reader, image["id"], b"reader's bytes").status_code == 403
    patch = [{"op": "replace", "path": "/name", "value": "renamed"}]
    patched = reader.patch(
        path, json=patch, headers={"Content-Type": "application/openstack-images-v2.1-json-patch"}
    )
    assert patched.status_code == 403
    assert reader.delete(path).status_code == 403
    assert alpha.get(path).json()["status"] == "queued"
    assert "by-reader" not in {i["name"] for i in alpha.get("/v2/images").json()["images"]}


def test_admin_sees_every_project_and_only_admin_publicizes(as_user: Any) -> None:
    alpha = as_user("alpha-member")
    image = create(alpha, visibility="private")
    admin = as_user("admin")
    path = f"/v2/images/{image['id']}"
    assert admin.get(path).status_code == 200
    assert image["id"] in listed_ids(admin)
    public = [{"op": "replace", "path": "/visibility", "value": "public"}]
    media = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    assert alpha.patch(path, json=public, headers=media).status_code == 403
    published = admin.patch(path, json=public, headers=media)
    assert published.status_code == 200, published.text
    assert image["id"] in listed_ids(as_user("beta-reader"))


@pytest.mark.parametrize(
    "scope",
    [{"domain_id": "default"}, {"system_scope": "all"}],
    ids=["domain-scoped", "system-scoped"],
)
def test_domain_and_system_tokens_are_valid_but_images_are_project_scoped(
    keystone: Keystone, as_user: Any, scope: dict[str, str]
) -> None:
    # the admin holds the admin role on the domain and the system too
    client = as_user("admin", token=keystone.new_token("admin", **scope))
    response = client.get("/v2/images")
    assert response.status_code == 403, response.text


# ----------------------------------------------------------------------- service tokens


def test_service_token_with_the_service_role_is_accepted(keystone: Keystone, as_user: Any) -> None:
    alpha = as_user("alpha-member", **{"X-Service-Token": keystone.token("service")})
    assert create(alpha)["owner"] == keystone.users["alpha-member"].project_id


@pytest.mark.parametrize("service", ["garbage", "beta-member"], ids=["invalid", "not-a-service"])
def test_service_token_must_be_valid_and_of_a_service(
    keystone: Keystone, as_user: Any, service: str
) -> None:
    service_token = "garbage" if service == "garbage" else keystone.token(service)
    client = as_user("alpha-member", **{"X-Service-Token": service_token})
    assert_refused(client.get("/v2/images"), keystone)


def test_service_token_lets_an_expired_user_token_finish_its_work(
    keystone: Keystone, as_user: Any
) -> None:
    image = create(as_user("alpha-member"), visibility="private")
    token, expires = keystone.short_lived_token("alpha-member", seconds=2)
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1)
    assert_refused(as_user("alpha-member", token=token).get("/v2/images"), keystone)
    with_service = as_user(
        "alpha-member", token=token, **{"X-Service-Token": keystone.token("service")}
    )
    # the request acts as the user: it sees (and may upload to) the user's private image
    assert with_service.get(f"/v2/images/{image['id']}").status_code == 200
    assert upload(with_service, image["id"], b"late bytes").status_code == 204
    # and a revoked user token stays refused, service token or not
    revoked = keystone.new_token("alpha-member")
    keystone.revoke(revoked)
    late = as_user("alpha-member", token=revoked, **{"X-Service-Token": keystone.token("service")})
    assert_refused(late.get("/v2/images"), keystone)
