"""python-glanceclient (v2, in-process) against a real glimpse server."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    BIG,
    SMALL,
    ChunkReader,
    Payload,
    assert_same_bytes,
    assert_stored,
    get_image,
    seed_list_images,
)

glanceclient = pytest.importorskip("glanceclient", reason="python-glanceclient is not installed")
from glanceclient import exc  # noqa: E402

pytestmark = pytest.mark.e2e

Client = Any  # glanceclient.v2.client.Client; the package ships no type hints


@pytest.fixture
def glance(endpoint: str) -> Client:
    # No Keystone: the client needs some token to send, and noauth ignores it. The version
    # goes in the URL (Client("2", ...) still works but is deprecated).
    return glanceclient.Client(endpoint=f"{endpoint}/v2", token="noauth")


def create(glance: Client, name: str, **attrs: Any) -> dict[str, Any]:
    image: dict[str, Any] = glance.images.create(
        name=name, disk_format="raw", container_format="bare", **attrs
    )
    return image


def test_create_without_data_is_queued(glance: Client, live: httpx.Client) -> None:
    # glanceclient validates the body against glimpse's /v2/schemas/image first.
    image = create(glance, "empty", os_distro="cirros", min_ram=64)
    assert image["status"] == "queued"
    shown = get_image(live, image["id"])
    assert (shown["status"], shown["os_distro"], shown["min_ram"]) == ("queued", "cirros", 64)


def test_upload_with_declared_size_then_download(glance: Client) -> None:
    payload = Payload.random(SMALL)
    image = create(glance, "sized")
    # glanceclient always streams file-likes chunked; image_size sends the known length
    # as x-openstack-image-size, which the server checks against what arrives.
    glance.images.upload(image["id"], io.BytesIO(payload.data), image_size=payload.size)
    assert_stored(glance.images.get(image["id"]), payload)
    # data() verifies os_hash_value itself as the body is consumed; we check the bytes too.
    assert_same_bytes(glance.images.data(image["id"]), payload)


def test_declared_size_mismatch_is_rejected(glance: Client) -> None:
    payload = Payload.random(SMALL)
    image = create(glance, "liar")
    with pytest.raises(exc.HTTPBadRequest):
        glance.images.upload(image["id"], io.BytesIO(payload.data), image_size=payload.size + 1)
    # As in Glance, a failed upload leaves the image queued, ready for another try.
    assert glance.images.get(image["id"])["status"] == "queued"
    glance.images.upload(image["id"], io.BytesIO(payload.data), image_size=payload.size)
    assert_stored(glance.images.get(image["id"]), payload)


def test_streamed_upload_of_64_mib(glance: Client) -> None:
    payload = Payload.random(BIG)
    image = create(glance, "streamed")
    glance.images.upload(image["id"], ChunkReader(payload.chunks()))
    assert_stored(glance.images.get(image["id"]), payload)
    assert_same_bytes(glance.images.data(image["id"]), payload)


def test_empty_upload_makes_an_empty_active_image(glance: Client) -> None:
    payload = Payload(b"")
    image = create(glance, "empty")
    glance.images.upload(image["id"], ChunkReader(payload.chunks()))
    shown = glance.images.get(image["id"])
    assert_stored(shown, payload)
    # As in Glance: a zero virtual size is not recorded (null, not 0).
    assert shown["virtual_size"] is None
    assert_same_bytes(glance.images.data(image["id"]), payload)


def test_list_filters_sort_and_pagination(glance: Client, live: httpx.Client) -> None:
    ids = seed_list_images(live)

    def names(**kwargs: Any) -> list[str]:
        return [image["name"] for image in glance.images.list(**kwargs)]

    assert names(filters={"name": "beta"}) == ["beta"]
    assert sorted(names(filters={"status": "active"})) == ["alpha", "gamma"]
    assert names(filters={"tag": ["gold"]}, sort="name:asc") == ["alpha", "beta"]
    assert sorted(names(filters={"os_distro": "ubuntu"})) == ["alpha", "gamma"]
    assert names(sort_key="name", sort_dir="desc") == ["gamma", "beta", "alpha"]
    # page_size is the server's limit: the client follows "next" links to the end,
    # and limit stops it early.
    assert names(sort="name:asc", page_size=1) == ["alpha", "beta", "gamma"]
    assert names(sort="name:asc", page_size=1, limit=2) == ["alpha", "beta"]
    assert names(sort="name:asc", marker=ids["alpha"]) == ["beta", "gamma"]


def test_update_name_properties_min_ram_protected(glance: Client) -> None:
    image = create(glance, "before", color="red", shape="round")
    updated = glance.images.update(
        image["id"],
        remove_props=["color"],
        name="after",
        min_ram=512,
        protected=True,
        os_distro="debian",
    )
    assert (updated["name"], updated["min_ram"], updated["protected"]) == ("after", 512, True)
    shown = glance.images.get(image["id"])
    assert (shown["os_distro"], shown["shape"]) == ("debian", "round")
    assert "color" not in shown


def test_tags_add_and_remove(glance: Client) -> None:
    image = create(glance, "tagged", tags=["keep"])
    glance.image_tags.update(image["id"], "extra")
    assert sorted(glance.images.get(image["id"])["tags"]) == ["extra", "keep"]
    glance.image_tags.delete(image["id"], "keep")
    assert glance.images.get(image["id"])["tags"] == ["extra"]


def test_deactivate_and_reactivate(glance: Client) -> None:
    payload = Payload.random(SMALL)
    image = create(glance, "switch")
    glance.images.upload(image["id"], io.BytesIO(payload.data), image_size=payload.size)

    glance.images.deactivate(image["id"])
    assert glance.images.get(image["id"])["status"] == "deactivated"
    # The unauthenticated context is admin, and admins may still download.
    assert_same_bytes(glance.images.data(image["id"]), payload)

    glance.images.reactivate(image["id"])
    assert glance.images.get(image["id"])["status"] == "active"


def test_protected_image_cannot_be_deleted(glance: Client) -> None:
    image = create(glance, "guarded", protected=True)
    with pytest.raises(exc.HTTPForbidden):
        glance.images.delete(image["id"])
    assert glance.images.get(image["id"])["status"] == "queued"

    glance.images.update(image["id"], protected=False)
    glance.images.delete(image["id"])
    with pytest.raises(exc.HTTPNotFound):
        glance.images.get(image["id"])
