"""openstacksdk (in-process) against a real glimpse server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.support import (
    BIG,
    SMALL,
    MiB,
    Payload,
    assert_same_bytes,
    assert_stored,
    get_image,
    seed_list_images,
)

openstack = pytest.importorskip("openstack", reason="openstacksdk is not installed")
from openstack import exceptions  # noqa: E402
from openstack.connection import Connection  # noqa: E402
from openstack.image.v2.image import Image  # noqa: E402

pytestmark = [
    pytest.mark.e2e,
    # The SDK warns about its own internals (influxdb, _compute_attributes, service_type).
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture
def conn(endpoint: str) -> Iterator[Connection]:
    # No Keystone: auth type "none" with the endpoint, and the image endpoint pinned to it
    # (the SDK then runs version discovery against glimpse's "/").
    connection = Connection(
        auth_type="none", auth={"endpoint": endpoint}, image_endpoint_override=endpoint
    )
    yield connection
    connection.close()


def create(conn: Connection, name: str, **attrs: Any) -> Image:
    image: Image = conn.image.create_image(
        name, disk_format="raw", container_format="bare", allow_duplicates=True, **attrs
    )
    return image


def as_dict(image: Image) -> dict[str, Any]:
    """The SDK's image in the API's own field names (what ``assert_stored`` checks)."""
    return {
        "status": image.status,
        "size": image.size,
        "checksum": image.checksum,
        "os_hash_algo": image.hash_algo,
        "os_hash_value": image.hash_value,
    }


def test_create_without_data_is_queued(conn: Connection, live: httpx.Client) -> None:
    image = create(conn, "empty", os_distro="cirros", min_ram=64)
    assert image.status == "queued"
    shown = get_image(live, image.id)
    assert shown["status"] == "queued"
    assert shown["os_distro"] == "cirros"
    assert shown["min_ram"] == 64
    assert shown["owner"] is None


def test_sized_upload_then_download(conn: Connection) -> None:
    payload = Payload.random(SMALL)
    # A BytesIO is seekable: the SDK sends Content-Length and X-OpenStack-Image-Size.
    image = create(conn, "sized", data=io.BytesIO(payload.data))
    assert_stored(as_dict(conn.image.get_image(image.id)), payload)

    # With ``output`` the SDK checks os_hash_value itself; we check the bytes too.
    out = io.BytesIO()
    conn.image.download_image(image.id, output=out)
    assert out.getvalue() == payload.data


def test_bytes_upload_is_validated_by_the_sdk(conn: Connection) -> None:
    payload = Payload.random(SMALL)
    # With bytes the SDK computes md5 and sha256 first, stores them as properties and
    # compares the server's checksum with its md5 after the upload.
    image = create(conn, "validated", data=payload.data, validate_checksum=True)
    shown = conn.image.get_image(image.id)
    assert_stored(as_dict(shown), payload)
    assert shown.properties["owner_specified.openstack.md5"] == payload.md5


def test_streamed_upload_of_64_mib(conn: Connection) -> None:
    payload = Payload.random(BIG)
    # A generator has no length: requests sends it with Transfer-Encoding: chunked.
    image = create(conn, "streamed", data=payload.chunks())
    assert_stored(as_dict(conn.image.get_image(image.id)), payload)

    response = conn.image.download_image(image.id, stream=True)
    assert_same_bytes(response.iter_content(chunk_size=MiB), payload)


def test_list_filters_sort_and_pagination(conn: Connection, live: httpx.Client) -> None:
    ids = seed_list_images(live)

    def names(**query: Any) -> list[str]:
        return [image.name for image in conn.image.images(**query)]

    assert names(name="beta") == ["beta"]
    assert sorted(names(status="active")) == ["alpha", "gamma"]
    assert names(tag="gold", sort="name:asc") == ["alpha", "beta"]
    assert names(sort="name:desc") == ["gamma", "beta", "alpha"]
    # A custom property is a server-side filter too (passed through as a query parameter).
    assert sorted(names(os_distro="ubuntu")) == ["alpha", "gamma"]
    # limit is the page size: the SDK follows the "next" links to the end.
    assert names(sort="name:asc", limit=1) == ["alpha", "beta", "gamma"]
    # Without pagination only the first page comes back; a marker starts after it.
    assert names(sort="name:asc", limit=2, paginated=False) == ["alpha", "beta"]
    after = names(sort="name:asc", limit=2, paginated=False, marker=ids["beta"])
    assert after == ["gamma"]


def test_update_name_properties_min_ram_protected(conn: Connection, live: httpx.Client) -> None:
    image = create(conn, "before", color="red", shape="round")
    updated = conn.image.update_image(
        image, name="after", min_ram=512, is_protected=True, os_distro="debian"
    )
    assert (updated.name, updated.min_ram, updated.is_protected) == ("after", 512, True)

    # Removing a property: the SDK turns the missing key into a JSON-patch "remove".
    current = conn.image.get_image(image.id)
    kept = {key: value for key, value in current.properties.items() if key != "color"}
    conn.image.update_image(current, properties={**kept, "size_class": "m"})

    shown = get_image(live, image.id)
    assert shown["name"] == "after"
    assert shown["min_ram"] == 512
    assert shown["protected"] is True
    assert shown["os_distro"] == "debian"
    assert shown["shape"] == "round"
    assert shown["size_class"] == "m"
    assert "color" not in shown


def test_tags_add_and_remove(conn: Connection) -> None:
    image = create(conn, "tagged", tags=["keep"])
    conn.image.add_tag(image, "extra")
    assert sorted(conn.image.get_image(image.id).tags) == ["extra", "keep"]
    conn.image.remove_tag(image, "keep")
    assert conn.image.get_image(image.id).tags == ["extra"]


def test_deactivate_and_reactivate(conn: Connection) -> None:
    payload = Payload.random(SMALL)
    image = create(conn, "switch", data=io.BytesIO(payload.data))

    conn.image.deactivate_image(image)
    assert conn.image.get_image(image.id).status == "deactivated"
    # The unauthenticated context is admin, and admins may still download.
    assert conn.image.download_image(image.id).content == payload.data

    conn.image.reactivate_image(image)
    assert conn.image.get_image(image.id).status == "active"


def test_members_add_list_update_remove(conn: Connection) -> None:
    image = create(conn, "shared", visibility="shared")
    member = conn.image.add_member(image, member_id="project-b")
    assert (member.member_id, member.image_id, member.status) == ("project-b", image.id, "pending")
    assert [m.member_id for m in conn.image.members(image)] == ["project-b"]
    # the unauthenticated context is admin, and admins may set a member's status
    assert conn.image.update_member(member, image, status="accepted").status == "accepted"
    assert conn.image.get_member(member, image).status == "accepted"
    conn.image.remove_member(member, image)
    assert list(conn.image.members(image)) == []
    with pytest.raises(exceptions.ForbiddenException):
        conn.image.add_member(create(conn, "private", visibility="private"), member_id="x")


def test_protected_image_cannot_be_deleted(conn: Connection) -> None:
    image = create(conn, "guarded", is_protected=True)
    with pytest.raises(exceptions.ForbiddenException):
        conn.image.delete_image(image)
    assert conn.image.get_image(image.id).status == "queued"

    conn.image.update_image(image, is_protected=False)
    conn.image.delete_image(image)
    with pytest.raises(exceptions.NotFoundException):
        conn.image.get_image(image.id)
    assert list(conn.image.images(name="guarded")) == []
