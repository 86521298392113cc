"""Image data in a real Swift, as a named store beside a file store: upload, ranged and
whole downloads, delete; copy-image between the two; and a private Swift proxy stopped
mid-upload (503, the image back to ``queued``, its segments removed once Swift is back)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from glimpse.app import Glimpse
from tests.api.test_remote_stores import round_trip, sections, upload_to
from tests.imports.conftest import OWNER, new_image, settled, start_import
from tests.support.images import create, show
from tests.support.records import OCTETS, admin
from tests.support.swift import PrivateProxy, SwiftServer

MiB = 1 << 20


async def test_swift_round_trip(
    make_client: Any, tmp_path: Path, swift_server: SwiftServer, swift_container: str
) -> None:
    remote = swift_server.section(swift_container, large_object_chunk_size=4)
    client = await make_client(**sections(tmp_path, remote))
    await round_trip(client, swift_server.key)
    assert swift_server.names(swift_container) == []  # deleted with it, segments too


async def test_swift_stopped_mid_upload_is_503(
    make_client: Any,
    make_settings: Any,
    tmp_path: Path,
    swift_server: SwiftServer,
    swift_container: str,
    private_swift: PrivateProxy,
) -> None:
    remote = private_swift.server.section(
        swift_container, large_object_chunk_size=1, timeout_seconds=5
    )
    client = await make_client(**sections(tmp_path, remote))
    image = await create(client)

    async def body() -> AsyncIterator[bytes]:
        for n in range(40):
            if n == 12:  # the proxy killed after some segments went up
                private_swift.stop()
            yield os.urandom(MiB)

    response = await upload_to(client, image["id"], body())
    assert response.status_code == 503, response.text
    shown = await show(client, image["id"])
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
    assert swift_server.names(swift_container) != []  # the segments Swift already had
    # once Swift is back, housekeeping removes what the failed upload left
    private_swift.start()
    housekeeping = Glimpse(make_settings(**sections(tmp_path, remote)))
    try:
        await housekeeping.housekeeping.run_once()
    finally:
        await housekeeping.db.aclose()
    assert swift_server.names(swift_container) == []
    data = os.urandom(3 * MiB)  # and the same image uploads
    assert (await upload_to(client, image["id"], data)).status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}/file")).content == data


async def test_copy_image_between_file_and_swift(
    make_client: Any, tmp_path: Path, swift_server: SwiftServer, swift_container: str
) -> None:
    """Swift and a file store as two named stores: an image uploaded to the file store is
    copied into Swift by copy-image, read from either, and deleted from both."""
    stores = sections(tmp_path, swift_server.section(swift_container, weight=100))
    stores["stores"]["os_glance_staging_store"] = {
        "type": "file",
        "directory": tmp_path / "staging",
    }
    client = await make_client(
        **stores, enabled_import_methods=["copy-image"], task_lease_seconds=3.0
    )
    image_id = await new_image(client)
    data = os.urandom(5 * MiB + 7)
    headers = {**OWNER, **OCTETS, "X-Image-Meta-Store": "file"}
    uploaded = await client.put(f"/v2/images/{image_id}/file", content=data, headers=headers)
    assert uploaded.status_code == 204
    body = {"method": {"name": "copy-image"}, "stores": ["remote"]}
    assert (await start_import(client, image_id, body, admin())).status_code == 202
    image = await settled(client, image_id)
    assert sorted(image["stores"].split(",")) == ["file", "remote"], image["_tasks"]
    assert image_id in swift_server.names(swift_container)
    for store in ("remote", "file"):
        got = await client.get(f"/v2/images/{image_id}/file?prefer={store}", headers=OWNER)
        assert got.status_code == 200 and got.content == data
    assert (await client.delete(f"/v2/images/{image_id}", headers=OWNER)).status_code == 204
    assert swift_server.names(swift_container) == []
