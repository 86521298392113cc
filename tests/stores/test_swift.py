"""The swift store against a real Swift: the store contract, whole and segmented, and
what only Swift can get wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from swiftclient.client import ClientException

from glimpse.config import Settings
from glimpse.errors import DataMissing, StorageFull, StoreUnavailable
from glimpse.stores.registry import build_stores
from glimpse.stores.swift import KeystoneScope, MiB, SwiftAccount, SwiftStore, _store_error
from tests.stores.contract import StoreContract
from tests.support.store_data import get, listed, put
from tests.support.swift import SwiftServer


def make_store(
    server: SwiftServer, container: str, scope: KeystoneScope | None = None, **options: object
) -> SwiftStore:
    if scope is None and server.keystone:
        scope = KeystoneScope()
    account = SwiftAccount(
        server.auth_address, server.user, server.key, timeout=10, retries=0, keystone=scope
    )
    settings: dict[str, object] = {"container": container, "create_container_on_put": True}
    return SwiftStore("swift", account, **{**settings, **options})  # type: ignore[arg-type]


@pytest.fixture(params=["whole", "segmented", "keystone"])
def store(
    request: pytest.FixtureRequest, swift_server: SwiftServer, swift_container: str
) -> SwiftStore:
    if request.param == "whole":
        return make_store(swift_server, swift_container)
    if request.param == "keystone":
        # the account of a Keystone project, found in the token's catalogue; segmented
        keystone: SwiftServer = request.getfixturevalue("keystone_swift")
        request.addfinalizer(lambda: keystone.remove(swift_container))
        return make_store(
            keystone, swift_container, large_object_size=MiB, large_object_chunk_size=MiB
        )
    # 1 MiB segments: the contract's larger writes span several
    return make_store(
        swift_server, swift_container, large_object_size=MiB, large_object_chunk_size=MiB
    )


class TestSwiftStore(StoreContract):
    pass


async def test_a_swift_out_of_reach_is_unavailable(swift_container: str) -> None:
    closed = SwiftServer("http://127.0.0.1:9/auth/v1.0", "glance:glance", "glancepass")
    store = make_store(closed, swift_container)
    with pytest.raises(StoreUnavailable, match="Swift could not"):
        await store.probe()
    writer = await store.writer("0d4c6a3e-2a55-4bd1-9a3f-2f1e0c1b2a3d", 10)
    with pytest.raises(StoreUnavailable):
        await writer.write(memoryview(b"0123456789"))
    await writer.abort()


async def test_wrong_credentials_are_unavailable(
    swift_server: SwiftServer, swift_container: str
) -> None:
    wrong = SwiftServer(swift_server.auth_address, swift_server.user, "not-the-key")
    with pytest.raises(StoreUnavailable, match="401"):
        await make_store(wrong, swift_container).probe()


async def test_keystone_auth_errors_are_unavailable(
    keystone_swift: SwiftServer, swift_container: str
) -> None:
    wrong = SwiftServer(keystone_swift.auth_address, keystone_swift.user, "not-it", keystone=True)
    with pytest.raises(StoreUnavailable, match="401"):
        await make_store(wrong, swift_container).probe()
    elsewhere = make_store(keystone_swift, swift_container, KeystoneScope(region="Nowhere"))
    with pytest.raises(StoreUnavailable, match="endpoint"):
        await elsewhere.probe()


async def test_a_keystone_account_is_its_projects(
    keystone_swift: SwiftServer, swift_server: SwiftServer, swift_container: str, tmp_path: Path
) -> None:
    """Through the catalogue, the data lands in the project's account (KEY_<project
    id>), not in the tempauth account of the same container name."""
    settings = Settings(
        data_dir=tmp_path, stores={"swift": keystone_swift.section(swift_container)}
    )
    [store] = list(build_stores(settings))
    try:
        location = await put(store, b"kept in the project's account")
        assert await get(store, location) == b"kept in the project's account"
        assert keystone_swift.names(swift_container) != []
        assert swift_server.names(swift_container) == []
    finally:
        keystone_swift.remove(swift_container)


async def test_a_missing_container_is_not_created_unless_asked(
    swift_server: SwiftServer, swift_container: str
) -> None:
    store = make_store(swift_server, swift_container, create_container_on_put=False)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        await store.probe()
    with pytest.raises(StoreUnavailable, match="404"):
        await put(store, b"data")
    assert swift_server.names(swift_container) == []


async def test_glance_layout(swift_server: SwiftServer, swift_container: str) -> None:
    """The image is the object named by its id; locations carry no credentials."""
    store = make_store(
        swift_server, swift_container, large_object_size=MiB, large_object_chunk_size=MiB
    )
    image_id = "7f1c3f2e-5b8a-4c1d-9e2f-3a4b5c6d7e8f"
    data = os.urandom(2 * MiB + 1)
    location = await put(store, data, image_id=image_id)
    assert location == f"swift+config://swift/{swift_container}/{image_id}"
    assert swift_server.key not in location
    names = swift_server.names(swift_container)
    assert image_id in names and len(names) == 4  # the manifest and three segments
    conn = swift_server.connect()
    headers, body = conn.get_object(swift_container, image_id)
    assert body == data and headers["x-static-large-object"] == "True"
    await store.delete(location)
    assert swift_server.names(swift_container) == []


async def test_multiple_containers_seed(swift_server: SwiftServer, swift_container: str) -> None:
    store = make_store(swift_server, swift_container, multiple_containers_seed=3)
    image_id = "AB-c1234-0000-0000-0000-000000000000"
    assert store.container_for(image_id) == f"{swift_container}_ab-c"
    location = await put(store, b"seeded", image_id=image_id)
    try:
        assert location == f"swift+config://swift/{swift_container}_ab-c/{image_id}"
        assert await listed(store) == {location}
        assert await get(store, location) == b"seeded"
        await store.probe()
    finally:
        await store.delete(location)
        swift_server.remove(f"{swift_container}_ab-c")


async def test_glance_written_dynamic_large_objects(
    swift_server: SwiftServer, swift_container: str
) -> None:
    """An image Glance wrote as segments <id>-00001… and an X-Object-Manifest is read,
    listed as one image (its segments owned) and deleted with its segments."""
    store = make_store(swift_server, swift_container, reference="ref1")
    image_id = "5e0f3a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b"
    conn = swift_server.connect()
    conn.put_container(swift_container)
    for n in (1, 2):
        conn.put_object(swift_container, f"{image_id}-{n:05d}", contents=f"part{n}")
    conn.put_object(
        swift_container,
        image_id,
        contents=b"",
        headers={"X-Object-Manifest": f"{swift_container}/{image_id}-"},
    )
    location = f"swift+config://ref1/{swift_container}/{image_id}"
    assert store.handles(location)
    assert await get(store, location) == b"part1part2"
    assert await listed(store) == {location}
    # Glance's older form names the credentials (read with the store's own)
    auth = swift_server.auth_address.split("://")[1]
    with_key = f"swift+http://glance%3Aglance:old-key@{auth}/{swift_container}/{image_id}"
    assert store.handles(with_key) and await store.size(with_key) == 10
    elsewhere = f"swift+http://u:k@127.0.0.1:1/auth/v1.0/{swift_container}/{image_id}"
    assert not store.handles(elsewhere)
    await store.delete(location)
    assert swift_server.names(swift_container) == []


async def test_segments_no_manifest_names_are_partial(
    swift_server: SwiftServer, swift_container: str
) -> None:
    """What a dead node left: segments without a manifest, listed as its partial location
    and removed by deleting that."""
    store = make_store(
        swift_server, swift_container, large_object_size=MiB, large_object_chunk_size=MiB
    )
    writer = await store.writer("1a2b3c4d-0000-4000-8000-000000000001", None)
    await writer.write(memoryview(os.urandom(MiB + 1)))
    stray = SwiftStore("swift", store.account, container=swift_container)  # another node
    assert await listed(stray) == {writer.partial_location}
    assert await stray.modified(writer.partial_location) > 0
    await stray.delete(writer.partial_location)
    assert await listed(stray) == set()
    await writer.abort()


async def test_built_from_a_store_section(
    swift_server: SwiftServer, swift_container: str, tmp_path: Path
) -> None:
    section = swift_server.section(swift_container, large_object_chunk_size=1)
    settings = Settings(data_dir=tmp_path, stores={"objects": section})
    assert swift_server.key not in repr(settings)  # the key is a secret
    [store] = list(build_stores(settings))
    assert isinstance(store, SwiftStore)
    assert (store.name, store.reference, store.large_object_chunk_size) == (
        "objects",
        "objects",
        MiB,
    )
    location = await put(store, b"from settings")
    assert location == f"swift+config://objects/{swift_container}/" + location.rsplit("/")[-1]
    assert await get(store, location) == b"from settings"


def test_swift_errors_as_glance_answers_them() -> None:
    full = _store_error(ClientException("quota", http_status=413), "store the image data")
    assert isinstance(full, StorageFull)
    down = _store_error(ClientException("gone", http_status=503, http_reason="Unavailable"), "x")
    assert isinstance(down, StoreUnavailable) and "503 Unavailable" in down.message


async def test_every_operation_on_a_swift_out_of_reach_is_unavailable(
    swift_container: str,
) -> None:
    store = make_store(SwiftServer("http://127.0.0.1:9/auth/v1.0", "a:b", "c"), swift_container)
    location = store.location(swift_container, "0d4c6a3e-2a55-4bd1-9a3f-2f1e0c1b2a3d")
    for operation in (store.read, store.size, store.modified, store.delete):
        with pytest.raises(StoreUnavailable, match="Swift could not"):
            await operation(location)
    with pytest.raises(StoreUnavailable, match="Swift could not list"):
        await listed(store)


async def test_empty_reads(store: SwiftStore) -> None:
    location = await put(store, b"0123456789")
    assert await get(store, location, 10) == b""  # from the very end
    assert await get(store, location, 3, 0) == b""
    await store.delete(location)
    with pytest.raises(DataMissing):
        await store.read(location, 3, 0)


async def test_a_read_given_up_midway_lets_go(store: SwiftStore) -> None:
    location = await put(store, os.urandom(8 * MiB))
    chunks = await store.read(location)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    assert await store.size(location) == 8 * MiB


async def test_a_container_not_there_yet_holds_nothing(store: SwiftStore) -> None:
    assert await listed(store) == set()
    with pytest.raises(DataMissing):
        await store.modified(store.location(store.container, "nothing-0123456789ab"))


async def test_tokens_are_reused_for_a_while(
    swift_server: SwiftServer, swift_container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(v1 auth: with Keystone, keystoneauth's session keeps the token.)"""
    store = make_store(swift_server, swift_container)
    location = await put(store, b"x")
    first = store.account.connect()
    assert first.token is not None  # the token the write got serves the next calls
    first.close()
    monkeypatch.setattr("glimpse.stores.swift.TOKEN_REUSE_SECONDS", 0.0)
    later = store.account.connect()
    assert later.token is None  # too old: the next call authenticates again
    later.close()
    assert await store.size(location) == 1
