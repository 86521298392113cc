"""``send_file`` over a real socket pair, from the page cache and from the disk."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

from glimpse.edge.sendfile import send_file


def _file(tmp_path: Path, size: int, *, cached: bool) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "data"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if not cached:  # half of it out of the page cache: read from the disk
            os.posix_fadvise(fd, size // 2, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return path, data


async def _receive(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    got = bytearray()
    while len(got) < size:
        chunk = await loop.sock_recv(sock, 1 << 20)
        if not chunk:
            break
        got += chunk
    return bytes(got)


async def test_a_file_arrives_whole_from_cache_and_disk(tmp_path: Path) -> None:
    for cached in (True, False):
        path, data = _file(tmp_path, (24 << 20) + 5, cached=cached)
        left, right = socket.socketpair()
        with left, right:
            right.setblocking(False)
            sending = asyncio.ensure_future(send_file(left.fileno(), str(path), len(data), 5))
            got = await _receive(right, len(data))
            assert await sending == len(data)
        assert got == data


async def test_a_short_file_sends_what_it_has(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 1 << 20, cached=True)
    left, right = socket.socketpair()
    with left, right:
        right.setblocking(False)
        sending = asyncio.ensure_future(send_file(left.fileno(), str(path), len(data) + 10, 5))
        got = await _receive(right, len(data))
        assert await sending == len(data)
    assert got == data


async def test_a_reader_that_goes_away_or_stops_ends_the_send(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 32 << 20, cached=True)
    left, right = socket.socketpair()
    with left:
        right.close()
        assert await send_file(left.fileno(), str(path), len(data), 5) == 0
    left, right = socket.socketpair()
    with left, right:  # never read: the send stops after the stall timeout
        assert await send_file(left.fileno(), str(path), len(data), 0.3) < len(data)
