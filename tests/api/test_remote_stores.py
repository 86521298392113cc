"""Image data in the remote stores of a real Ceph, each as a named store beside a file
store: upload, ranged and whole downloads, delete; and the store going away mid-upload
(a private RGW stopped: 503, the image back to ``queued``, its multipart upload gone
once housekeeping ran)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.app import Glimpse
from glimpse.config import RbdStoreSettings
from glimpse.stores.registry import build_store
from tests.support.ceph import (
    PrivateRgw,
    private_rgw,
    rbd_section,
    require,
    s3_bucket,
    s3_client,
    s3_section,
)
from tests.support.images import OCTETS, create, show
from tests.support.records import admin
from tests.support.server import free_port
from tests.support.swift import SwiftServer

MiB = 1 << 20


@pytest.fixture
def bucket() -> Iterator[str]:
    with s3_bucket() as name:
        yield name


def sections(tmp_path: Path, remote: dict[str, Any]) -> dict[str, Any]:
    return {
        "stores": {"file": {"type": "file", "directory": tmp_path / "file"}, "remote": remote},
        "default_store": "file",
    }


async def upload_to(
    client: httpx.AsyncClient, image_id: str, body: Any, store: str = "remote"
) -> httpx.Response:
    headers = {**OCTETS, "X-Image-Meta-Store": store}
    return await client.put(f"/v2/images/{image_id}/file", content=body, headers=headers)


async def round_trip(client: httpx.AsyncClient, secret: str) -> str:
    """Upload, download (whole and ranged) and delete one image in the remote store."""
    data = os.urandom(12 * MiB + 3)
    image = await create(client)
    assert (await upload_to(client, image["id"], data)).status_code == 204
    shown = await show(client, image["id"])
    assert (shown["status"], shown["size"], shown["stores"]) == ("active", len(data), "remote")
    assert secret not in str(shown)
    got = await client.get(f"/v2/images/{image['id']}/file")
    assert got.status_code == 200 and got.content == data
    ranged = await client.get(
        f"/v2/images/{image['id']}/file", headers={"Range": f"bytes={5 * MiB}-{6 * MiB}"}
    )
    assert ranged.status_code == 206 and ranged.content == data[5 * MiB : 6 * MiB + 1]
    assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204
    image_id: str = image["id"]
    return image_id


async def test_s3_round_trip(make_client: Any, tmp_path: Path, bucket: str) -> None:
    import boto3

    client = await make_client(**sections(tmp_path, s3_section(bucket)))
    await round_trip(client, os.environ["AWS_SECRET_ACCESS_KEY"])
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []  # deleted with it
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.fixture
def rgw(tmp_path: Path) -> Iterator[PrivateRgw]:
    """(Requested before the client, so that it stops after the client has.)"""
    with private_rgw(tmp_path) as gateway:
        yield gateway


async def test_s3_going_away_mid_upload_is_503(
    rgw: PrivateRgw, make_client: Any, make_settings: Any, tmp_path: Path, bucket: str
) -> None:
    remote = s3_section(bucket, s3_store_host=rgw.endpoint)
    client = await make_client(**sections(tmp_path, remote))
    image = await create(client)

    async def body() -> AsyncIterator[bytes]:
        for n in range(40):
            if n == 15:
                rgw.stop()  # RGW stopped after some parts went up
            yield os.urandom(MiB)

    response = await upload_to(client, image["id"], body())
    assert response.status_code == 503, response.text
    shown = await show(client, image["id"])
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", None, None)
    s3 = s3_client()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) != []
    rgw.start()  # back again: housekeeping aborts the multipart upload left behind
    housekeeping = Glimpse(make_settings(**sections(tmp_path, remote)))
    try:
        await housekeeping.housekeeping.run_once()
    finally:
        await housekeeping.db.aclose()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
    data = os.urandom(6 * MiB)  # and the same image uploads
    assert (await upload_to(client, image["id"], data)).status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}/file")).content == data


async def test_rbd_round_trip(make_client: Any, tmp_path: Path) -> None:
    rbd = pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
    from glimpse.stores.rbd import RbdStore

    section = rbd_section()
    client = await make_client(**sections(tmp_path, section))
    image_id = await round_trip(client, "keyring")
    store = build_store("remote", RbdStoreSettings(**section))
    assert isinstance(store, RbdStore)
    assert image_id not in rbd.RBD().list(store.ioctx())  # deleted with it


async def test_an_unreachable_ceph_is_503(make_client: Any, tmp_path: Path) -> None:
    pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
    conf = tmp_path / "ceph.conf"  # monitors on a port nothing listens on
    conf.write_text("[global]\nmon_host = 127.0.0.1:9\nauth_client_required = none\n")
    remote = rbd_section(rbd_store_ceph_conf=str(conf), rados_connect_timeout=2)
    client = await make_client(**sections(tmp_path, remote))
    image = await create(client)
    response = await upload_to(client, image["id"], os.urandom(MiB))
    assert response.status_code == 503, response.text
    shown = await show(client, image["id"])
    assert (shown["status"], shown["size"]) == ("queued", None)


def rbd_cli(*args: str) -> str:
    command = ["rbd", "-c", os.environ["CEPH_CONF"], *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


async def test_rbd_delete_refused_while_a_clone_exists(make_client: Any, tmp_path: Path) -> None:
    """As Nova and Cinder use an RBD image: cloned copy-on-write from its protected
    snapshot with the ``rbd`` CLI; the image cannot go while the clone depends on it."""
    pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
    section = rbd_section()
    client = await make_client(show_image_direct_url=True, **sections(tmp_path, section))
    data = os.urandom(3 * MiB + 7)
    image = await create(client)
    assert (await upload_to(client, image["id"], data)).status_code == 204
    # what Nova and Cinder read: rbd://<fsid>/<pool>/<image>/<snapshot>
    direct_url = (await show(client, image["id"]))["direct_url"]
    fsid, pool, name, snapshot = direct_url.removeprefix("rbd://").split("/")
    assert (pool, name, snapshot) == (section["rbd_store_pool"], image["id"], "snap")
    assert fsid == os.environ["CEPH_FSID"]  # the cluster's (ceph-up.sh's env)
    clone = f"{pool}/vm-disk-{image['id'][:8]}"
    rbd_cli("clone", f"{pool}/{name}@{snapshot}", clone)
    try:
        response = await client.delete(f"/v2/images/{image['id']}")
        assert response.status_code == 409, response.text
        assert "in use" in response.text
        assert (await show(client, image["id"]))["status"] == "active"
        assert (await client.get(f"/v2/images/{image['id']}/file")).content == data
        rbd_cli("flatten", clone)  # the clone no longer needs its parent
        assert (await client.delete(f"/v2/images/{image['id']}")).status_code == 204
        assert image["id"] not in rbd_cli("ls", pool).split()
        exported = tmp_path / "clone.raw"
        rbd_cli("export", clone, str(exported))
        assert exported.read_bytes()[: len(data)] == data
    finally:
        rbd_cli("rm", clone)


async def test_stores_detail_properties_as_glance_shows_them(
    make_client: Any, tmp_path: Path, bucket: str, swift_server: SwiftServer
) -> None:
    """Glance 33's keys and values (sizes in bytes, from its MiB options) per type."""
    pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
    settings = sections(tmp_path, rbd_section(rbd_store_chunk_size=4))
    settings["stores"]["s3"] = s3_section(bucket, s3_store_large_object_size=50)
    settings["stores"]["swift"] = swift_server.section("images-c", large_object_chunk_size=30)
    client = await make_client(**settings)
    response = await client.get("/v2/info/stores/detail", headers=admin())
    assert response.status_code == 200, response.text
    shown = {
        store["id"]: (store["type"], store["properties"]) for store in response.json()["stores"]
    }
    assert shown["remote"] == (
        "rbd",
        {
            "chunk_size": 4 * MiB,
            "pool": os.environ["CEPH_POOL"],
            "thin_provisioning": False,
            "fsid": os.environ["CEPH_FSID"],
        },
    )
    assert shown["s3"] == (
        "s3",
        {
            "s3_store_large_object_size": 50 * MiB,
            "s3_store_large_object_chunk_size": 5 * MiB,
            "s3_store_thread_pools": 10,
        },
    )
    assert shown["swift"] == (
        "swift",
        {
            "container": "images-c",
            "large_object_size": 5120 * MiB,
            "large_object_chunk_size": 30 * MiB,
        },
    )


@pytest.fixture
def private_ceph() -> Iterator[dict[str, str]]:
    """A Ceph of the test's own (mon and one memstore OSD, on ports of its own), which
    the test may stop; its env (CEPH_CONF, CEPH_POOL, CEPH_BASE)."""
    pytest.importorskip("rbd", reason="Ceph's python3-rbd (scripts/test links it)")
    require(("CEPH_CONF",))  # the test Ceph's packages are installed
    base = Path(tempfile.mkdtemp(prefix="ceph-", dir="/tmp")) / "ceph"  # (socket paths)
    messenger = 30000 + secrets.randbelow(300) * 100
    env = {
        # (not the test Ceph's CEPH_KEYRING & co: the CLI would use them)
        **{name: value for name, value in os.environ.items() if not name.startswith("CEPH_")},
        "CEPH_BASE": str(base),
        "CEPH_MON_PORT_V2": str(free_port()),
        "CEPH_MON_PORT_V1": str(free_port()),
        "CEPH_BIND_PORT_MIN": str(messenger),
        "CEPH_BIND_PORT_MAX": str(messenger + 99),
        "CEPH_OSD_STORE": "memstore",
        "CEPH_OSD_SIZE_GB": "1",
        "CEPH_RGW": "0",
        "CEPH_MGR": "0",
    }
    scripts = Path(__file__).parents[2] / ".ci" / "backends"
    subprocess.run([scripts / "ceph-up.sh"], env=env, check=True, capture_output=True)
    try:
        yield {"CEPH_CONF": str(base / "ceph.conf"), "CEPH_POOL": "images", "CEPH_BASE": str(base)}
    finally:
        env["CEPH_PURGE"] = "1"
        subprocess.run([scripts / "ceph-down.sh"], env=env, capture_output=True)
        base.parent.rmdir()


async def test_an_rbd_cluster_whose_mon_is_gone(
    make_client: Any, tmp_path: Path, private_ceph: dict[str, str], monkeypatch: Any
) -> None:
    """The monitor stopped before the store first connects: 503, the image ``queued``;
    once the monitor is back, the same store connects and the image uploads."""
    monkeypatch.delenv("CEPH_KEYRING", raising=False)  # (librados would use the test Ceph's)
    conf, base = private_ceph["CEPH_CONF"], Path(private_ceph["CEPH_BASE"])
    mon_pid = int((base / "run" / "mon.a.pid").read_text())
    remote = rbd_section(
        pool=private_ceph["CEPH_POOL"], rbd_store_ceph_conf=conf, rados_connect_timeout=2
    )
    client = await make_client(**sections(tmp_path, remote))
    image = await create(client)
    os.kill(mon_pid, signal.SIGTERM)
    while Path(f"/proc/{mon_pid}").exists():
        await asyncio.sleep(0.05)
    response = await upload_to(client, image["id"], os.urandom(MiB))
    assert response.status_code == 503, response.text
    shown = await show(client, image["id"])
    assert (shown["status"], shown["size"]) == ("queued", None)
    subprocess.run(["ceph-mon", "-c", conf, "-i", "a"], check=True)
    for _ in range(60):  # (cephx answers EACCES until the restarted mon is in quorum)
        asked = ["ceph", "-c", conf, "--connect-timeout", "5", "mon", "stat"]
        if subprocess.run(asked, capture_output=True).returncode == 0:
            break
        await asyncio.sleep(0.5)
    data = os.urandom(2 * MiB)
    assert (await upload_to(client, image["id"], data)).status_code == 204
    assert (await client.get(f"/v2/images/{image['id']}/file")).content == data
