"""Downloads from a file store sent by the server itself (``http.response.pathsend``,
``sendfile``), through a real ``glimpse serve``."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # uploads through the page cache: downloads find the files there, and send them
    env = {"GLIMPSE_HTTP_BODY_TIMEOUT_SECONDS": "1.5", "GLIMPSE_FILE_STORE_DIRECT_IO": "false"}
    with ServerProcess(tmp_path_factory.mktemp("pathsend"), env=env) as running:
        yield running


def uploaded(server: ServerProcess, data: bytes) -> str:
    image: str = httpx.post(
        f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    put = httpx.put(
        f"{server.url}/v2/images/{image}/file",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert put.status_code == 204
    return image


def test_whole_downloads_on_one_connection(server: ServerProcess) -> None:
    data = os.urandom((16 << 20) + 123)
    image = uploaded(server, data)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(3):  # keep-alive goes on after each file sent
            got = http.get(f"/v2/images/{image}/file")
            assert got.status_code == 200
            assert got.headers["content-length"] == str(len(data))
            assert got.headers["content-md5"] == hashlib.md5(data).hexdigest()
            assert got.content == data
        ranged = http.get(f"/v2/images/{image}/file", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206
        assert ranged.content == data[100:200]


def test_a_client_that_stops_reading_is_cut_off(server: ServerProcess) -> None:
    size = 256 << 20  # more than the socket buffers hold
    image = uploaded(server, os.urandom(1 << 20) * 256)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(f"GET /v2/images/{image}/file HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        time.sleep(4)  # reading nothing for longer than the body timeout
        got = 0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
    assert got < size


def test_an_image_deleted_while_sent_still_arrives_whole(server: ServerProcess) -> None:
    data = os.urandom(8 << 20)
    image = uploaded(server, data)
    with (
        httpx.Client(base_url=server.url, timeout=30) as http,
        http.stream("GET", f"/v2/images/{image}/file") as response,
    ):
        chunks = response.iter_bytes()
        first = next(chunks)
        assert http.delete(f"/v2/images/{image}").status_code == 204
        rest = b"".join(chunks)
    assert first + rest == data
