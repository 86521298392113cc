"""The RBD store against a real Ceph: the store contract, and what only an RBD store can
get wrong (Glance's layout and snapshot, clones, growing images, the cluster away)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from glimpse.config import RbdStoreSettings
from glimpse.errors import Conflict, DataMissing, StoreUnavailable
from tests.stores.contract import StoreContract
from tests.support.ceph import rbd_pool, rbd_section
from tests.support.store_data import MiB, get, listed, put

rbd = pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
from glimpse.stores.rbd import RbdStore  # noqa: E402


def rbd_store(pool: str | None, **overrides: Any) -> RbdStore:
    return RbdStore("rbd", RbdStoreSettings(**rbd_section(pool, **overrides)))


@pytest.fixture
def pool() -> Iterator[str]:
    with rbd_pool() as name:
        yield name


@pytest.fixture
def store(pool: str) -> RbdStore:
    return rbd_store(pool)


class TestRbdStore(StoreContract):
    pass


async def test_glance_layout_with_a_protected_snapshot(store: RbdStore, pool: str) -> None:
    image_id = str(uuid.uuid4())
    location = await put(store, os.urandom(MiB), image_id=image_id)
    fsid = store._cluster.get_fsid()
    assert location == f"rbd://{fsid}/{pool}/{image_id}/snap"
    with rbd.Image(store.ioctx(), image_id) as image:
        assert [s["name"] for s in image.list_snaps()] == ["snap"]
        assert image.is_protected_snap("snap")
        assert image.size() == MiB
        assert image.features() & rbd.RBD_FEATURE_LAYERING
    assert not store.handles(f"rbd://{fsid}/other/{image_id}/snap")
    assert not store.handles(f"rbd://other-fsid/{pool}/{image_id}/snap")
    assert not store.handles(f"rbd://{fsid}/{pool}/{image_id}")
    assert not store.handles(f"rbd://{fsid}/{pool}/{image_id}/other")


async def test_an_image_of_unknown_size_grows_in_steps(store: RbdStore) -> None:
    writer = await store.writer(str(uuid.uuid4()), None)
    data = os.urandom(3 * MiB)
    await writer.write(memoryview(data))
    name = writer.partial_location.rsplit("/", 1)[1]
    with rbd.Image(store.ioctx(), name) as image:
        assert image.size() >= 1 << 30  # one resize for the first GiB, not one per write
    location = await writer.commit()
    assert await store.size(location) == len(data)
    assert await get(store, location) == data


async def test_delete_is_refused_while_clones_exist(store: RbdStore) -> None:
    """Nova/Cinder clone copy-on-write from the snapshot; the image must stay."""
    image_id = str(uuid.uuid4())
    location = await put(store, os.urandom(MiB), image_id=image_id)
    ioctx = store.ioctx()
    rbd.RBD().clone(ioctx, image_id, "snap", ioctx, "vm-disk", features=rbd.RBD_FEATURE_LAYERING)
    with pytest.raises(Conflict):
        await store.delete(location)
    assert await store.size(location) == MiB
    rbd.RBD().remove(ioctx, "vm-disk")
    await store.delete(location)
    assert await listed(store) == set()


async def test_a_commit_onto_existing_data_is_a_conflict(store: RbdStore) -> None:
    image_id = str(uuid.uuid4())
    await put(store, b"first", image_id=image_id)
    with pytest.raises(Conflict):
        await put(store, b"second", image_id=image_id)
    assert len(await listed(store)) == 1  # the second write's partial image is gone


async def test_the_reaper_can_remove_a_partial_image(store: RbdStore) -> None:
    writer = await store.writer(str(uuid.uuid4()), 10)
    await writer.write(memoryview(b"0123456789"))
    assert await listed(store) == {writer.partial_location}
    assert await store.modified(writer.partial_location) > 0
    with pytest.raises(DataMissing):
        await store.size(writer.partial_location)
    with pytest.raises(Conflict):  # open by a live writer: not removed under it
        await store.delete(writer.partial_location)
    writer._image.close()  # the writing node is gone (its watch with it)
    writer._image = None
    await store.delete(writer.partial_location)
    assert await listed(store) == set()
    await writer.abort()


async def test_the_restricted_user_of_an_image_service() -> None:
    store = rbd_store(None)  # client.glance: profile rbd on the cluster's pool only
    await store.probe()
    location = await put(store, b"data")
    assert await get(store, location) == b"data"
    await store.delete(location)
    assert location not in await listed(store)


async def test_locations_of_other_stores_are_not_data(store: RbdStore) -> None:
    for call in (store.size, store.modified, store.delete):
        with pytest.raises(DataMissing):
            await call("file:///tmp/x")


async def test_an_unreachable_cluster_is_unavailable(tmp_path: Path) -> None:
    conf = tmp_path / "ceph.conf"  # monitors on ports nothing listens on
    conf.write_text("[global]\nmon_host = 127.0.0.1:9\nauth_client_required = none\n")
    store = rbd_store(None, rbd_store_ceph_conf=str(conf), rados_connect_timeout=2)
    with pytest.raises(StoreUnavailable):
        await store.probe()
    with pytest.raises(StoreUnavailable):
        await store.writer(str(uuid.uuid4()), 1)
    with pytest.raises(StoreUnavailable):
        await listed(store)


async def test_a_read_left_half_way(store: RbdStore) -> None:
    location = await put(store, os.urandom(9 * MiB))
    chunks = await store.read(location)
    assert len(await anext(chunks)) > 0
    await chunks.aclose()  # the client went away: the image is closed, the budget given back
    assert await store.size(location) == 9 * MiB
    await store.delete(location)
    assert await listed(store) == set()


async def test_empty_writes_are_nothing(store: RbdStore) -> None:
    writer = await store.writer(str(uuid.uuid4()), None)
    await writer.write(memoryview(b""))
    location = await writer.commit()
    assert await get(store, location) == b""


async def test_writes_go_out_while_the_last_is_stored(store: RbdStore) -> None:
    """Up to WINDOW writes are with librbd at once (one at a time halved a stream), and
    every one of them is done before the commit."""
    from glimpse.stores.rbd import WINDOW

    writer = await store.writer(str(uuid.uuid4()), None)
    blocks = [os.urandom(MiB) for _ in range(WINDOW + 3)]
    await writer.write(memoryview(blocks[0]))
    assert len(writer._in_flight) == 1  # handed over, not waited for
    for block in blocks[1:]:
        await writer.write(memoryview(block))
        assert len(writer._in_flight) <= WINDOW
    location = await writer.commit()
    assert await get(store, location) == b"".join(blocks)


async def test_an_abort_waits_for_the_writes_in_flight(store: RbdStore) -> None:
    writer = await store.writer(str(uuid.uuid4()), None)
    for _ in range(2):
        await writer.write(memoryview(os.urandom(4 * MiB)))
    await writer.abort()
    assert await listed(store) == set()
