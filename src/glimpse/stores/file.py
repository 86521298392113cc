"""Image bytes as files in one directory: ``<dir>/<image id>``.

Writes go to ``<dir>/<image id>.<token>.part`` and are renamed into place on commit.
Full blocks are written with ``O_DIRECT`` where the filesystem allows it: image data is
rarely read back soon, and copying every byte into the page cache costs more CPU than
hashing it. Another store's file on the same filesystem (staged import data) is taken as
a hard link instead of a copy: image files never change once committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import mmap
import os
import secrets
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any
from urllib.parse import unquote, urlparse

from glimpse.concurrency import run_blocking, submit_blocking
from glimpse.errors import DataMissing, GlimpseError, NotFound, StorageFull, StoreUnavailable
from glimpse.memory import BUDGET
from glimpse.stores.page_cache import cached_fraction

READ_CHUNK = 2 << 20
READ_AHEAD = 3
DIRECT_ALIGNMENT = 4096


def _store_error(exc: OSError, action: str) -> GlimpseError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"Image storage media is full: {exc.strerror}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return StoreUnavailable(f"Insufficient permissions on image storage media: {exc.strerror}")
    return StoreUnavailable(f"Image store could not {action}: {exc.strerror}")


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class FileWriter:
    def __init__(
        self, final: Path, partial: Path, fd: int, *, flags: int, direct: bool, fsync: bool
    ) -> None:
        self._final = final
        self._partial = partial
        self._fd = fd
        self._flags = flags
        self._direct = direct
        self._fsync = fsync
        self.partial_location = partial.as_uri()

    def _write(self, data: memoryview) -> None:
        if self._direct:
            aligned = len(data) - len(data) % DIRECT_ALIGNMENT
            try:
                if aligned:
                    _write_all(self._fd, data[:aligned])
                    data = data[aligned:]
            except OSError as exc:
                # a buffer that is not page-aligned in memory: O_DIRECT refuses it
                if exc.errno != errno.EINVAL:
                    raise
            if not data:
                return
            # an unaligned tail (normally the last write), or an unaligned buffer:
            # the rest goes through the page cache
            self._stop_direct()
        _write_all(self._fd, data)

    def _stop_direct(self) -> None:
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        self._direct = False

    async def write(self, data: memoryview) -> None:
        try:
            await run_blocking(self._write, data)
        except OSError as exc:
            raise _store_error(exc, "write") from exc

    def _adopt(self, location: str) -> bool:
        parsed = urlparse(location)
        if parsed.scheme != "file":
            return False
        source = Path(unquote(parsed.path))
        if os.stat(source).st_dev != os.fstat(self._fd).st_dev:
            return False
        # the (empty) partial file gives way to a link under the same name, which a
        # dead attempt's cleanup finds as it would the partial file
        os.close(self._fd)
        self._fd = -1
        self._partial.unlink()
        try:
            os.link(source, self._partial)
        except OSError:  # no hard links here (some FUSE, EMLINK): write it after all
            self._fd = os.open(self._partial, self._flags, 0o640)
            return False
        return True

    async def adopt(self, location: str) -> bool:
        try:
            return await run_blocking(self._adopt, location)
        except OSError as exc:
            raise _store_error(exc, "link a file") from exc

    def _commit(self) -> None:
        if self._fd < 0:  # adopted: its data may not be on the disk yet (cheap if it is)
            self._fd = os.open(self._partial, os.O_RDONLY | os.O_CLOEXEC)
        if self._fsync:
            os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self._partial, self._final)

    async def commit(self) -> str:
        try:
            await run_blocking(self._commit)
        except OSError as exc:
            await self.abort()
            raise _store_error(exc, "write") from exc
        return self._final.as_uri()

    def _abort(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        self._partial.unlink(missing_ok=True)

    async def abort(self) -> None:
        with contextlib.suppress(OSError):  # the reaper retries from the lease
            await run_blocking(self._abort)


class _FileReader:
    """Reads one store file: through the page cache when the data is there, straight
    from the disk (``O_DIRECT``) when it is not. Uploads bypass the cache, so a first
    download is cold; filling the cache then would cost more CPU than the read itself.
    ``pread`` may run on several threads at once (read-ahead)."""

    def __init__(self, path: Path, *, direct: bool) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._direct = direct
        self._direct_fd = -1
        # aligned buffers for direct reads, one per read in flight, reused
        self._buffers: SimpleQueue[mmap.mmap] = SimpleQueue()
        self._made: list[mmap.mmap] = []

    def pread(self, size: int, position: int) -> bytes:
        if self._direct and position % DIRECT_ALIGNMENT == 0:
            cached = cached_fraction(self.fd, position, size)
            if cached is not None and cached < 0.5:
                return self._pread_direct(size, position)
        return os.pread(self.fd, size, position)

    def _pread_direct(self, size: int, position: int) -> bytes:
        if self._direct_fd < 0:
            try:
                self._direct_fd = os.open(
                    f"/proc/self/fd/{self.fd}", os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC
                )
            except OSError:
                self._direct = False  # no O_DIRECT on this filesystem: use the cache
                return os.pread(self.fd, size, position)
        span = -(-size // DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT
        try:
            buffer = self._buffers.get_nowait()
        except Empty:
            buffer = mmap.mmap(-1, span)
            self._made.append(buffer)
        try:
            got = os.preadv(self._direct_fd, [memoryview(buffer)[:span]], position)
            return buffer[: min(got, size)]
        finally:
            self._buffers.put(buffer)

    def close(self) -> None:
        for fd in (self.fd, self._direct_fd):
            if fd >= 0:
                os.close(fd)
        for buffer in self._made:
            buffer.close()


async def _read_ahead(reader: _FileReader, offset: int, length: int | None) -> AsyncIterator[bytes]:
    """Yield the data in chunks; the next READ_AHEAD chunks are read on threads while
    this one is sent (several reads in flight keep a disk busy on a cold read). Chunks
    and their read buffers are paid for from the transfer budget: smaller when many
    downloads run, and a download waits for room rather than grow memory."""
    # each chunk in flight is held twice: its read buffer and the bytes sent
    async with (
        BUDGET.transfer(READ_CHUNK, parts=2 * READ_AHEAD) as chunk_size,
        contextlib.aclosing(_chunks(reader, offset, length, chunk_size)) as chunks,
    ):
        async for chunk in chunks:
            yield chunk


async def _chunks(
    reader: _FileReader, offset: int, length: int | None, chunk_size: int
) -> AsyncGenerator[bytes, None]:
    end = offset + length if length is not None else None
    position = offset  # where the next read starts
    pending: deque[asyncio.Future[bytes]] = deque()

    def schedule() -> None:
        nonlocal position
        while len(pending) < READ_AHEAD and (end is None or position < end):
            size = chunk_size if end is None else min(chunk_size, end - position)
            pending.append(submit_blocking(reader.pread, size, position))
            position += size

    try:
        schedule()
        while pending:
            chunk = await pending.popleft()
            if not chunk:
                break
            schedule()
            yield chunk
    finally:
        for future in pending:  # the client went away: let the reads finish first
            with contextlib.suppress(Exception):
                await asyncio.shield(future)
        reader.close()


class FileStore:
    writable = True

    def __init__(
        self, name: str, directory: Path, *, fsync: bool = True, direct_io: bool = True
    ) -> None:
        self.name = name
        self.directory = directory
        self.fsync = fsync
        self.direct_io = direct_io and hasattr(os, "O_DIRECT")

    def _open_partial(self, image_id: str) -> FileWriter:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f"{image_id}.{secrets.token_hex(6)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        direct = self.direct_io
        try:
            fd = os.open(partial, flags | (os.O_DIRECT if direct else 0), 0o640)
        except OSError as exc:
            if not direct or exc.errno != errno.EINVAL:
                raise
            # this filesystem (tmpfs, some FUSE) has no O_DIRECT
            partial.unlink(missing_ok=True)
            fd = os.open(partial, flags, 0o640)
            direct = False
        flags |= os.O_DIRECT if direct else 0
        final = self.directory / image_id
        return FileWriter(final, partial, fd, flags=flags, direct=direct, fsync=self.fsync)

    async def writer(self, image_id: str, size_hint: int | None) -> FileWriter:
        try:
            return await run_blocking(self._open_partial, image_id)
        except OSError as exc:
            raise _store_error(exc, "open a file") from exc

    def _path(self, location: str) -> Path:
        parsed = urlparse(location)
        path = Path(unquote(parsed.path))
        if parsed.scheme != "file" or path.parent != self.directory:
            raise NotFound(f"Location {location} does not belong to store {self.name}")
        return path

    def handles(self, location: str) -> bool:
        try:
            self._path(location)
        except NotFound:
            return False
        return True

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(location)
        try:
            reader = await run_blocking(_FileReader, path, direct=self.direct_io)
        except FileNotFoundError as exc:
            raise DataMissing(f"Image data is missing from the store at {location}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"Image store could not read: {exc.strerror}") from exc
        return _read_ahead(reader, offset, length)

    async def size(self, location: str) -> int:
        path = self._path(location)
        try:
            return (await run_blocking(path.stat)).st_size
        except FileNotFoundError as exc:
            raise DataMissing(f"Image data is missing from the store at {location}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"Image store could not read: {exc.strerror}") from exc

    def _file_size(self, path: Path) -> tuple[str, int]:
        return str(path), path.stat().st_size

    async def local_file(self, location: str) -> tuple[str, int] | None:
        """The file, cached or not: ``sendfile`` with its own read-ahead sends it with
        less CPU than direct reads through Python, and no transfer buffer is held."""
        path = self._path(location)
        try:
            return await run_blocking(self._file_size, path)
        except OSError:
            return None  # read() says what is wrong

    async def modified(self, location: str) -> float:
        path = self._path(location)
        try:
            return (await run_blocking(path.stat)).st_mtime
        except FileNotFoundError as exc:
            raise DataMissing(f"Image data is missing from the store at {location}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"Image store could not read: {exc.strerror}") from exc

    def _list(self) -> list[str]:
        try:
            with os.scandir(self.directory) as entries:
                return [Path(e.path).as_uri() for e in entries if e.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    async def objects(self) -> AsyncIterator[str]:
        try:
            found = await run_blocking(self._list)
        except OSError as exc:
            raise StoreUnavailable(f"Image store could not list: {exc.strerror}") from exc
        for location in found:
            yield location

    def _probe(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    async def check_removable(self, location: str) -> None:
        return  # nothing can depend on its data

    async def properties(self) -> dict[str, Any]:
        # (65536: the chunk size Glance's file store reads in)
        return {"data_dir": str(self.directory), "chunk_size": 65536, "thin_provisioning": False}

    async def probe(self) -> None:
        try:
            await run_blocking(self._probe)
        except OSError as exc:
            raise _store_error(exc, f"use {self.directory}") from exc

    def _delete(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)

    async def delete(self, location: str) -> None:
        try:
            await run_blocking(self._delete, location)
        except OSError as exc:
            raise StoreUnavailable(f"Image store could not delete: {exc.strerror}") from exc
