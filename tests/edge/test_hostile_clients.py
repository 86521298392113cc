"""The HTTP edge against hostile clients, over raw sockets to a real ``glimpse serve``."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

LIMITS = {
    "GLIMPSE_HTTP_HEADER_TIMEOUT_SECONDS": "1.5",
    "GLIMPSE_HTTP_KEEPALIVE_TIMEOUT_SECONDS": "1",
    "GLIMPSE_HTTP_BODY_TIMEOUT_SECONDS": "1.5",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("edge"), env=LIMITS) as running:
        yield running


def connect(server: ServerProcess, source: str = "127.0.0.1") -> socket.socket:
    """A connection from ``source`` (any 127.x.y.z is this host's loopback)."""
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(source, 0)
    )
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, whole (the connection stays open)."""
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    assert len(body) == length  # nothing of the next response yet
    return head + b"\r\n\r\n" + body


def closed_within(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    start = time.monotonic()
    sock.settimeout(seconds)
    return read_all(sock), time.monotonic() - start


def answers(server: ServerProcess) -> bool:
    return httpx.get(f"{server.url}/healthcheck", timeout=5).status_code == 200


def test_a_request_with_headers_past_the_cap_gets_431(server: ServerProcess) -> None:
    with connect(server) as sock:
        big = b"x" * (65 << 10)
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nX-Big: " + big + b"\r\n\r\n")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert b"connection: close" in reply
    assert answers(server)


def test_headers_just_under_the_cap_are_served(server: ServerProcess) -> None:
    with connect(server) as sock:
        value = b"x" * (60 << 10)
        sock.sendall(
            b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nX-Big: "
            + value
            + b"\r\nConnection: close\r\n\r\n"
        )
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_endless_headers_are_cut_off_before_they_end(server: ServerProcess) -> None:
    """Many headers that never end: answered once past the cap, not buffered on."""
    with connect(server) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: a\r\n")
        sent = 0
        with pytest.raises(OSError):  # the server closes while we still send
            while sent < 64 << 20:
                sock.sendall(b"X-Many: " + b"y" * 1000 + b"\r\n")
                sent += 1010
        assert sent < 8 << 20
    assert answers(server)


def test_a_malformed_request_gets_400(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"FOO /v2/images HTTP/1.1", b"405 "),
        (b"BREW /v2/images/x/file HTTP/1.1", b"405 "),
        (b"PATCHX /v2/schemas/image HTTP/1.1", b"405 "),
        (b"FOO /v2/nowhere HTTP/1.1", b"501 "),  # as Glance
        (b"F@O /v2/images HTTP/1.1", b"400 "),
    ],
)
def test_a_method_nobody_knows_gets_glances_answer(
    server: ServerProcess, request_line: bytes, status: bytes
) -> None:
    with connect(server) as sock:
        sock.sendall(
            request_line + b"\r\nHost: a\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        )
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 " + status), reply[:200]
    if status == b"405 ":
        assert b"The method " + request_line.split()[0] + b" is not allowed" in reply
        assert b"\r\nallow: " in reply


def test_an_unknown_method_after_a_request_on_the_same_connection(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"FOO /v2/images HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
        assert read_response(sock).startswith(b"HTTP/1.1 405 ")
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_an_upgrade_request_is_answered_as_plain_http(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(
            b"GET /healthcheck HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n"
            b"Upgrade: websocket\r\n\r\n"
        )
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_a_download_the_client_stops_reading_is_cut_off(server: ServerProcess) -> None:
    """Uploads bypass the page cache here: the download streams through Python."""
    image = httpx.post(
        f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    size = 128 << 20
    put = httpx.put(
        f"{server.url}/v2/images/{image}/file",
        content=os.urandom(1 << 20) * 128,
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )
    assert put.status_code == 204
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        sock.sendall(f"GET /v2/images/{image}/file HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        time.sleep(4)  # reading nothing for longer than the body timeout
        got = 0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
    assert got < size
    assert answers(server)


def test_headers_sent_a_byte_at_a_time_are_timed_out(server: ServerProcess) -> None:
    with connect(server) as sock:
        request = b"GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n"
        start = time.monotonic()
        reply = b""
        for byte in request[:-4]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            sock.settimeout(0.01)
            try:
                reply += sock.recv(1000)
            except TimeoutError:
                continue
            if reply:
                break
        sock.settimeout(5)
        reply += read_all(sock)
        elapsed = time.monotonic() - start
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 4


def test_a_silent_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        reply, elapsed = closed_within(sock, 5)
    assert reply == b""
    assert 1 <= elapsed < 4


def test_an_idle_keep_alive_connection_is_closed(server: ServerProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: a\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while not first.endswith(b"\r\n\r\nOK"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        rest, elapsed = closed_within(sock, 5)
    assert rest == b""
    assert elapsed < 3


def test_a_stalled_upload_is_cut_off_and_its_image_queued_again(server: ServerProcess) -> None:
    created = httpx.post(
        f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()
    image = created["id"]
    with connect(server) as sock:
        sock.sendall(
            f"PUT /v2/images/{image}/file HTTP/1.1\r\nHost: a\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {10 << 20}\r\n\r\n".encode()
            + b"z" * (1 << 20)
        )
        saving = httpx.get(f"{server.url}/v2/images/{image}").json()["status"]
        reply, elapsed = closed_within(sock, 10)
    assert saving == "saving"
    assert not reply.startswith(b"HTTP/1.1 2")
    assert elapsed < 6
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/v2/images/{image}").json()["status"] != "queued":
        assert time.monotonic() < deadline, "the image never went back to queued"
        time.sleep(0.1)
    # and the image takes a whole upload afterwards
    done = httpx.put(
        f"{server.url}/v2/images/{image}/file",
        content=b"q" * 4096,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert done.status_code == 204


def test_a_slow_but_moving_upload_is_not_cut_off(server: ServerProcess) -> None:
    created = httpx.post(
        f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()
    with connect(server) as sock:
        sock.sendall(
            f"PUT /v2/images/{created['id']}/file HTTP/1.1\r\nHost: a\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n"
            "Content-Length: 4000\r\n\r\n".encode()
        )
        for _ in range(4):  # 4 s in all, more than the body timeout, never 1 s silent
            sock.sendall(b"s" * 1000)
            time.sleep(1)
        assert read_all(sock).startswith(b"HTTP/1.1 204 ")
    assert httpx.get(f"{server.url}/v2/images/{created['id']}").json()["status"] == "active"


def test_connections_past_the_cap_are_refused_with_503(tmp_path: Path) -> None:
    env = {"GLIMPSE_HTTP_MAX_CONNECTIONS": "8", "GLIMPSE_HTTP_HEADER_TIMEOUT_SECONDS": "60"}
    with ServerProcess(tmp_path, env=env) as server:
        # the start-up probe's connection may still be closing
        time.sleep(0.5)
        held = [connect(server) for _ in range(8)]
        try:
            time.sleep(0.3)
            with connect(server) as extra:
                reply, _ = closed_within(extra, 5)
            assert reply.startswith(b"HTTP/1.1 503 ")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        assert answers(server)


def test_one_address_cannot_take_every_connection(tmp_path: Path) -> None:
    env = {
        "GLIMPSE_HTTP_MAX_CONNECTIONS": "16",
        "GLIMPSE_HTTP_MAX_CONNECTIONS_PER_CLIENT": "100",  # lowered to half the cap
        "GLIMPSE_HTTP_HEADER_TIMEOUT_SECONDS": "60",
    }
    with ServerProcess(tmp_path, env=env) as server:
        time.sleep(0.5)  # the start-up probe's connection may still be closing
        held = [connect(server, "127.0.0.2") for _ in range(8)]
        try:
            time.sleep(0.3)
            with connect(server, "127.0.0.2") as extra:
                reply, _ = closed_within(extra, 5)
            assert reply.startswith(b"HTTP/1.1 503 ")
            assert b"from this address" in reply
            # another address is still served, on a connection of its own
            with connect(server, "127.0.0.3") as other:
                other.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert read_all(other).startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        # the closed ones no longer count against the address
        with connect(server, "127.0.0.2") as again:
            again.sendall(b"GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_all(again).startswith(b"HTTP/1.1 200 ")


def test_still_answering_when_file_descriptors_run_short(tmp_path: Path) -> None:
    """`ulimit -n 256` and 300 idle sockets: the ones past what the descriptors allow are
    refused at once, the idle ones are closed, and the service answers again."""
    env = {"GLIMPSE_HTTP_HEADER_TIMEOUT_SECONDS": "2"}
    with ServerProcess(tmp_path, env=env, open_files=256) as server:
        idle = []
        try:
            for _ in range(300):
                idle.append(connect(server))
            time.sleep(0.5)
            refused = 0
            for sock in idle:
                sock.setblocking(False)
                try:
                    if sock.recv(100).startswith(b"HTTP/1.1 503 "):
                        refused += 1
                except BlockingIOError:
                    pass
            assert refused > 0
            deadline = time.monotonic() + 10
            while True:  # the idle ones time out; then the service answers
                try:
                    if answers(server):
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, server.log()[-2000:]
                time.sleep(0.2)
        finally:
            for sock in idle:
                sock.close()
        # and it does real work: an upload (a file) and a download
        image = httpx.post(
            f"{server.url}/v2/images", json={"disk_format": "raw", "container_format": "bare"}
        ).json()["id"]
        data = os.urandom(1 << 20)
        put = httpx.put(
            f"{server.url}/v2/images/{image}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 204
        assert httpx.get(f"{server.url}/v2/images/{image}/file").content == data
