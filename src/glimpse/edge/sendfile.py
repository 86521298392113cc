"""Sending a file's bytes to a socket with ``sendfile``: the kernel moves them from
the page cache (or the disk) to the socket; they never pass through Python.

The socket is the connection's own, duplicated so that the event loop closing its
descriptor (the client went away) cannot let another connection reuse the number
while a send is in flight. What the page cache holds is sent from the event loop, the
rest from a data thread (reading the disk blocks); between bursts the event loop waits
for the socket to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os

from glimpse.concurrency import run_blocking
from glimpse.stores.page_cache import cached_fraction

# how far ahead of the socket the disk is asked to read: the parts of a file not in the
# page cache then arrive in large reads at once, not in the kernel's small read-ahead steps
READ_AHEAD = 16 << 20
# the most sent from the page cache on the event loop at once (~1 ms of copying)
LOOP_BURST = 2 << 20


class _Ahead:
    """Keeps the disk reading READ_AHEAD past the socket, also while the bytes already
    read are sent from the cache: asked only at a miss, the disk would wait for the
    socket and the socket for the disk (and the kernel's own read-ahead can be as small
    as a few pages, e.g. for a file just written with O_DIRECT)."""

    def __init__(self) -> None:
        self.until = 0

    def due(self, offset: int, size: int) -> bool:
        """Whether the disk should be asked for more (never once it was asked up to
        the end of the ``size`` bytes sent)."""
        return self.until < size and offset + READ_AHEAD // 2 >= self.until

    def advise(self, fd: int, offset: int, size: int) -> None:
        if self.due(offset, size):
            start = max(offset, self.until)
            os.posix_fadvise(fd, start, offset + READ_AHEAD - start, os.POSIX_FADV_WILLNEED)
            self.until = offset + READ_AHEAD


def _send_burst(sock: int, fd: int, offset: int, count: int) -> tuple[int, bool]:
    """Send until the socket would block or ``count`` bytes are sent: (bytes sent,
    whether the socket is full); (0, False) at the end of the file."""
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock, fd, offset + sent, count - sent)
        except BlockingIOError:
            return sent, True
        if n == 0:
            break
        sent += n
    return sent, False


def _send_from_disk(sock: int, fd: int, offset: int, count: int, ahead: _Ahead) -> tuple[int, bool]:
    """As :func:`_send_burst`, asking for the next part of the file as it goes: the
    socket may take far more than one read-ahead before it is full."""
    sent = 0
    while sent < count:
        ahead.advise(fd, offset + sent, offset + count)
        step = min(count - sent, READ_AHEAD // 4)
        n, full = _send_burst(sock, fd, offset + sent, step)
        sent += n
        if full or n < step:  # the socket is full, or the file ended
            return sent, full
    return sent, False


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
    shorter, the client went away, or it read nothing for ``stall_timeout`` seconds).

    What the page cache holds is sent from the event loop itself (a copy in the kernel,
    no thread to hand over to); what it does not is sent from a data thread, which may
    wait for the disk."""
    loop = asyncio.get_running_loop()
    sock = os.dup(socket_fd)
    try:
        os.set_blocking(sock, False)
        fd = await run_blocking(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            sent = 0
            ahead = _Ahead()
            while sent < count:
                burst = min(count - sent, LOOP_BURST)
                try:
                    if cached_fraction(fd, sent, burst) == 1.0:
                        if ahead.due(sent, count):  # asking may wait for the disk's queue
                            await run_blocking(ahead.advise, fd, sent, count)
                        n, full = _send_burst(sock, fd, sent, burst)
                    else:
                        n, full = await run_blocking(
                            _send_from_disk, sock, fd, sent, count - sent, ahead
                        )
                except OSError as exc:
                    if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                        break
                    raise
                sent += n
                if full:
                    if not await _writable(loop, sock, stall_timeout):
                        break
                elif n == 0:
                    break  # the file is shorter than it should be
                else:
                    await asyncio.sleep(0)  # let other connections have their turn
            return sent
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(sock)
