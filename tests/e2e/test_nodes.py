"""Many nodes, as docs/deployment.md deploys them: three ``glimpse serve`` nodes over
one PostgreSQL database and one Ceph RBD pool, behind a real nginx that streams bodies.
An upload through one node is read through another; two uploads to one image through
two nodes give one 204 and one 409; a node killed mid-upload leaves its image
``queued`` and no partial RBD image once its lease runs out; a prefetch queued on a
node is cached and served by that node."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import fresh_pg_database
from tests.support.ceph import rbd_pool, rbd_section
from tests.support.nginx import Nginx
from tests.support.server import ServerProcess

OWNER = {"X-Project-Id": "owner", "X-Roles": "member,reader"}
ADMIN = {"X-Project-Id": "admin", "X-Roles": "admin,member,reader"}
OCTETS = {"Content-Type": "application/octet-stream"}
LEASE = 3


@dataclass
class Cluster:
    nodes: list[ServerProcess]
    proxy: Nginx
    pool: str
    ceph_conf: str

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.proxy.url, headers={"Accept": "application/json"}, timeout=120
        )

    def rbd_images(self) -> list[str]:
        import rados
        import rbd

        cluster = rados.Rados(conffile=self.ceph_conf)
        cluster.connect(timeout=10)
        try:
            with cluster.open_ioctx(self.pool) as ioctx:
                names: list[str] = rbd.RBD().list(ioctx)
                return names
        finally:
            cluster.shutdown()


def on(node: int) -> dict[str, str]:
    """Headers sending a request through nginx to one node."""
    return {"X-Glimpse-Node": str(node)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with rbd_pool() as pool, fresh_pg_database() as database_url:
        section = rbd_section(pool)
        nodes = []
        for index in range(3):
            data_dir = tmp_path_factory.mktemp(f"node{index}")
            nodes.append(
                ServerProcess(
                    data_dir,
                    env={
                        "GLIMPSE_DATABASE_URL": database_url,
                        "GLIMPSE_STORES": orjson.dumps({"ceph": section}).decode(),
                        "GLIMPSE_UPLOAD_LEASE_SECONDS": str(LEASE),
                        "GLIMPSE_HOUSEKEEPING_SECONDS": "1",
                        "GLIMPSE_IMAGE_CACHE_DIR": str(data_dir / "cache"),
                    },
                )
            )
        started: list[ServerProcess] = []
        try:
            for node in nodes:
                node.start()
                started.append(node)
            backends = [f"127.0.0.1:{node.port}" for node in nodes]
            with Nginx(tmp_path_factory.mktemp("nginx"), backends) as proxy:
                yield Cluster(nodes, proxy, pool, section["rbd_store_ceph_conf"])
        finally:
            for node in started:
                node.stop()


def new_image(http: httpx.Client) -> str:
    response = http.post(
        "/v2/images", json={"disk_format": "raw", "container_format": "bare"}, headers=OWNER
    )
    assert response.status_code == 201, response.text
    image_id: str = response.json()["id"]
    return image_id


def status(http: httpx.Client, image_id: str, node: int = 0) -> str:
    found: str = http.get(f"/v2/images/{image_id}", headers={**OWNER, **on(node)}).json()["status"]
    return found


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def slow_body(data: bytes, started: threading.Event, go: threading.Event) -> Iterator[bytes]:
    """The first MiB at once, the rest once ``go`` is set."""
    yield data[: 1 << 20]
    started.set()
    go.wait(60)
    for offset in range(1 << 20, len(data), 1 << 20):
        yield data[offset : offset + (1 << 20)]


def test_an_upload_through_one_node_is_read_through_another(cluster: Cluster) -> None:
    data = os.urandom(12 << 20)
    with cluster.client() as http:
        image_id = new_image(http)
        put = http.put(
            f"/v2/images/{image_id}/file", content=data, headers={**OWNER, **OCTETS, **on(0)}
        )
        assert put.status_code == 204, put.text
        for node in (1, 2):
            got = http.get(f"/v2/images/{image_id}/file", headers={**OWNER, **on(node)})
            assert (got.status_code, got.content == data) == (200, True)
        # balanced over the nodes, every answer is the same
        for _ in range(3):
            assert http.get(f"/v2/images/{image_id}/file", headers=OWNER).content == data


def test_two_uploads_to_one_image_through_two_nodes(cluster: Cluster) -> None:
    data = os.urandom(8 << 20)
    started, go = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    with cluster.client() as http:
        image_id = new_image(http)

        def first() -> None:
            with cluster.client() as own:
                outcome["first"] = own.put(
                    f"/v2/images/{image_id}/file",
                    content=slow_body(data, started, go),
                    headers={**OWNER, **OCTETS, **on(0)},
                )

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert started.wait(30)
            wait_for(lambda: status(http, image_id, 1) == "saving", 30, "the first upload saving")
            second = http.put(
                f"/v2/images/{image_id}/file", content=data, headers={**OWNER, **OCTETS, **on(1)}
            )
            assert second.status_code == 409, second.text
        finally:
            go.set()
            thread.join(120)
        assert outcome["first"].status_code == 204, outcome["first"].text
        assert status(http, image_id, 2) == "active"
        assert http.get(f"/v2/images/{image_id}/file", headers={**OWNER, **on(1)}).content == data


def test_a_node_killed_mid_upload(cluster: Cluster) -> None:
    """Node 2 dies while it writes an image into RBD: once its lease runs out another
    node gives the image back (queued) and removes the partial RBD image."""
    data = os.urandom(8 << 20)
    started, go = threading.Event(), threading.Event()
    victim = cluster.nodes[2]
    with cluster.client() as http:
        image_id = new_image(http)

        def upload() -> None:
            with cluster.client() as own, pytest.raises(httpx.HTTPError):
                response = own.put(
                    f"/v2/images/{image_id}/file",
                    content=slow_body(data, started, go),
                    headers={**OWNER, **OCTETS, **on(2)},
                )
                response.raise_for_status()

        thread = threading.Thread(target=upload)
        thread.start()
        try:
            assert started.wait(30)
            wait_for(lambda: status(http, image_id) == "saving", 30, "the upload saving")
            wait_for(
                lambda: any(name.startswith(image_id) for name in cluster.rbd_images()),
                30,
                "the partial RBD image",
            )
            victim.kill()
        finally:
            go.set()
            thread.join(60)
        wait_for(lambda: status(http, image_id) == "queued", LEASE + 30, "the image queued")
        # the dead node's watch on its partial image lapses (Ceph: 30 s), then it goes
        wait_for(
            lambda: not any(name.startswith(image_id) for name in cluster.rbd_images()),
            90,
            "the partial RBD image removed",
        )
        # the image takes an upload again, through a live node
        put = http.put(
            f"/v2/images/{image_id}/file", content=data, headers={**OWNER, **OCTETS, **on(1)}
        )
        assert put.status_code == 204, put.text


def test_a_prefetch_is_served_by_the_node_that_was_asked(cluster: Cluster) -> None:
    data = os.urandom(4 << 20)
    with cluster.client() as http:
        image_id = new_image(http)
        put = http.put(
            f"/v2/images/{image_id}/file", content=data, headers={**OWNER, **OCTETS, **on(1)}
        )
        assert put.status_code == 204
        queued = http.put(f"/v2/cache/{image_id}", headers={**ADMIN, **on(0)})
        assert queued.status_code == 202, queued.text

        def cached_on(node: int) -> list[str]:
            found = http.get("/v2/cache", headers={**ADMIN, **on(node)}).json()
            return [entry["image_id"] for entry in found["cached_images"]]

        wait_for(lambda: image_id in cached_on(0), 30, "the image cached on node 0")
        assert image_id not in cached_on(1)
        node0 = f"http://{socket.gethostname()}:{cluster.nodes[0].port}"
        nodes = http.get(f"/v2/cache/nodes/{image_id}", headers={**ADMIN, **on(1)})
        assert (nodes.status_code, nodes.json()) == (200, [node0])
        cache_file = Path(cluster.nodes[0].data_dir / "cache" / image_id)
        assert cache_file.read_bytes() == data
        got = http.get(f"/v2/images/{image_id}/file", headers={**OWNER, **on(0)})
        assert got.content == data
        entries = http.get("/v2/cache", headers={**ADMIN, **on(0)}).json()["cached_images"]
        [entry] = [entry for entry in entries if entry["image_id"] == image_id]
        assert entry["hits"] == 1  # served from node 0's cache
