"""Image bytes as files in one directory: ``<dir>/<image id>``.

Writes go to ``<dir>/<image id>.<token>.part`` and are renamed into place on commit.
Full blocks are written with ``O_DIRECT`` where the filesystem allows it: image data is
rarely read back soon, and copying every byte into the page cache costs more CPU than
hashing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from glimpse.concurrency import run_blocking, submit_blocking
from glimpse.errors import GlimpseError, NotFound, RequestEntityTooLarge, ServiceUnavailable
from glimpse.store.base import DataMissing

READ_CHUNK = 2 << 20
DIRECT_ALIGNMENT = 4096


def _store_error(exc: OSError, action: str) -> GlimpseError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return RequestEntityTooLarge(f"Image storage media is full: {exc.strerror}")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ServiceUnavailable(f"Permission to write image storage media denied: {exc.strerror}")
    return ServiceUnavailable(f"Image store could not {action}: {exc.strerror}")


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class FileWriter:
    def __init__(self, final: Path, partial: Path, fd: int, *, direct: bool, fsync: bool) -> None:
        self._final = final
        self._partial = partial
        self._fd = fd
        self._direct = direct
        self._fsync = fsync
        self.partial_location = partial.as_uri()

    def _write(self, data: memoryview) -> None:
        if self._direct:
            aligned = len(data) - len(data) % DIRECT_ALIGNMENT
            if aligned:
                _write_all(self._fd, data[:aligned])
            if aligned == len(data):
                return
            # an unaligned tail can only be the last write: finish it through the cache
            flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
            fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
            self._direct = False
            data = data[aligned:]
        _write_all(self._fd, data)

    async def write(self, data: memoryview) -> None:
        try:
            await run_blocking(self._write, data)
        except OSError as exc:
            raise _store_error(exc, "write") from exc

    def _commit(self) -> None:
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


async def _read_ahead(fd: int, offset: int, length: int | None) -> AsyncIterator[bytes]:
    """Yield the data in chunks; the next chunk is read on a thread while this one is
    sent. Reads go through the page cache, so an image downloaded again and again (the
    common case: many hosts booting one image) is served from memory."""
    end = None if length is None else offset + length

    def want(position: int) -> int:
        return READ_CHUNK if end is None else min(READ_CHUNK, end - position)

    position = offset
    pending: asyncio.Future[bytes] | None = None
    try:
        if want(position) > 0:
            pending = submit_blocking(os.pread, fd, want(position), position)
        while pending is not None:
            chunk = await pending
            pending = None
            if not chunk:
                break
            position += len(chunk)
            if want(position) > 0:
                pending = submit_blocking(os.pread, fd, want(position), position)
            yield chunk
    finally:
        if pending is not None:  # the client went away: let the read finish first
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        os.close(fd)


class FileStore:
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
        return FileWriter(self.directory / image_id, partial, fd, direct=direct, fsync=self.fsync)

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

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(location)
        try:
            fd = await run_blocking(os.open, path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError as exc:
            raise DataMissing(f"Image data is missing from the store at {location}") from exc
        except OSError as exc:
            raise ServiceUnavailable(f"Image store could not read: {exc.strerror}") from exc
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, offset, length or 0, os.POSIX_FADV_SEQUENTIAL)
        return _read_ahead(fd, offset, length)

    def _delete(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)

    async def delete(self, location: str) -> None:
        try:
            await run_blocking(self._delete, location)
        except OSError as exc:
            raise ServiceUnavailable(f"Image store could not delete: {exc.strerror}") from exc
