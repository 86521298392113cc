"""Sending a file's bytes to a socket with ``sendfile``: the kernel moves them from
the page cache (or the disk) to the socket; they never pass through Python.

The socket is the connection's own, duplicated so that the event loop closing its
descriptor (the client went away) cannot let another connection reuse the number
while a send is in flight. Each ``sendfile`` burst runs on a data thread (a cold file
blocks on the disk); between bursts the event loop waits for the socket to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

from glimpse.concurrency import run_blocking

# how far ahead of the socket the disk is asked to read: the parts of a file not in the
# page cache then arrive in large reads at once, not in the kernel's small read-ahead steps
READ_AHEAD = 16 << 20


class _Ahead:
    def __init__(self) -> None:
        self.until = 0


def _send_burst(sock: int, fd: int, offset: int, count: int, ahead: _Ahead) -> int:
    """Send until the socket would block or ``count`` bytes are sent; 0 at end of file."""
    if offset + READ_AHEAD // 2 >= ahead.until:
        start = max(offset, ahead.until)
        os.posix_fadvise(fd, start, offset + READ_AHEAD - start, os.POSIX_FADV_WILLNEED)
        ahead.until = offset + READ_AHEAD
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock, fd, offset + sent, count - sent)
        except BlockingIOError:
            if sent == 0:
                return -1
            break
        if n == 0:
            return sent
        sent += n
    return sent


async def _writable(loop: asyncio.AbstractEventLoop, sock: int, timeout: float) -> bool:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(sock, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        return False
    finally:
        loop.remove_writer(sock)
    return True


async def send_file(socket_fd: int, path: str, count: int, stall_timeout: float) -> int:
    """Send the first ``count`` bytes of ``path``; the number sent (fewer: the file was
    shorter, the client went away, or it read nothing for ``stall_timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    sock = os.dup(socket_fd)
    try:
        os.set_blocking(sock, False)
        fd = await run_blocking(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sent = 0
            ahead = _Ahead()
            while sent < count:
                try:
                    n = await run_blocking(_send_burst, sock, fd, sent, count - sent, ahead)
                except OSError as exc:
                    if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                        break
                    raise
                if n == 0:
                    break
                if n > 0:
                    sent += n
                if sent < count and not await _writable(loop, sock, stall_timeout):
                    break
            return sent
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(sock)
