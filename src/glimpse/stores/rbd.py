"""Image bytes as RBD images in one Ceph pool, Glance's layout: an image named after the
image id, with a protected snapshot ``snap`` that Nova and Cinder clone copy-on-write,
at the location ``rbd://<fsid>/<pool>/<image id>/snap``.

A write goes to ``<image id>.<token>.part`` (the partial location, without a snapshot),
created at the final size when it is known and grown in large steps when it is not;
commit trims it to the bytes written, renames it into place and snapshots it. Delete
unprotects and removes the snapshot first, and refuses (409) while clones of it exist.

Ceph's Python bindings (``rados``, ``rbd``) block and release the GIL: every call runs
on the data pool. The cluster connection is made on first use and shared.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import secrets
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import urlparse

import rados
import rbd

from glimpse.concurrency import run_blocking, submit_blocking
from glimpse.config import RbdStoreSettings
from glimpse.errors import Conflict, DataMissing, GlimpseError, StorageFull, StoreUnavailable
from glimpse.memory import BUDGET

MiB = 1 << 20
GiB = 1 << 30
SNAPSHOT = "snap"
PARTIAL = ".part"
READ_CHUNK = 4 * MiB
# an image of unknown size grows by its size so far, at least this, at most MAX_STEP
MIN_STEP = GiB
MAX_STEP = 64 * GiB
# writes handed to librbd at once, each holding its block's copy: the next block goes out
# while the OSDs store the last (waiting for each acknowledgement halved a stream)
WINDOW = 2
T = TypeVar("T")


def _error(exc: Exception, action: str) -> GlimpseError:
    if isinstance(exc, rbd.ImageNotFound | rados.ObjectNotFound):
        return DataMissing(f"Image data is missing from the RBD store: {exc}")
    if isinstance(exc, rbd.NoSpace | rados.NoSpace):
        return StorageFull(f"Image storage media is full: {exc}")
    return StoreUnavailable(f"RBD store could not {action}: {exc}")


def _settle(done: asyncio.Future[None], code: int, data: bytes) -> None:
    """A write librbd has answered (``data`` was kept alive until now)."""
    if done.cancelled():
        return
    if code >= 0:
        done.set_result(None)
    elif -code in (errno.ENOSPC, errno.EDQUOT):
        done.set_exception(StorageFull(f"Image storage media is full: {errno.errorcode[-code]}"))
    else:
        done.set_exception(
            StoreUnavailable(f"RBD store could not write: {errno.errorcode.get(-code, code)}")
        )


class RbdWriter:
    def __init__(self, store: RbdStore, image_id: str, name: str, size: int) -> None:
        self._store = store
        self._image_id = image_id
        self._name = name
        self.partial_location = store.url(name)
        self._size = size  # the RBD image's size now
        self._written = 0
        self._image: Any = None
        self._done = False
        self._in_flight: collections.deque[asyncio.Future[None]] = collections.deque()

    def _send(self, data: bytes, done: asyncio.Future[None]) -> None:
        """Grow the image if need be, then hand the write to librbd, which answers on
        its own thread when the OSDs have it: ``done`` settles then."""
        if self._image is None:
            self._image = rbd.Image(self._store.ioctx(), self._name)
        end = self._written + len(data)
        if end > self._size:
            self._size = max(end, self._size + min(MAX_STEP, max(MIN_STEP, self._size)))
            self._image.resize(self._size)
        loop = done.get_loop()

        def complete(completion: Any) -> None:
            loop.call_soon_threadsafe(_settle, done, completion.get_return_value(), data)

        self._image.aio_write(data, self._written, complete)
        self._written = end

    async def write(self, data: memoryview) -> None:
        if not data:
            return
        while len(self._in_flight) >= WINDOW:
            await self._in_flight.popleft()
        done = asyncio.get_running_loop().create_future()
        try:
            await run_blocking(self._send, bytes(data), done)  # the bindings take bytes only
        except (rados.Error, rbd.Error) as exc:
            raise _error(exc, "write") from exc
        self._in_flight.append(done)

    async def _drain(self) -> None:
        """Wait for every write in flight; raise the first one's error."""
        pending, self._in_flight = list(self._in_flight), collections.deque()
        if pending:
            await asyncio.wait(pending)
            for done in pending:
                done.result()

    def _commit(self) -> None:
        image = self._image or rbd.Image(self._store.ioctx(), self._name)
        self._image = None
        with image:
            if image.size() != self._written:
                image.resize(self._written)
            image.flush()
        ioctx = self._store.ioctx()
        rbd.RBD().rename(ioctx, self._name, self._image_id)
        with rbd.Image(ioctx, self._image_id) as image:
            image.create_snap(SNAPSHOT)
            image.protect_snap(SNAPSHOT)

    async def adopt(self, location: str) -> bool:
        return False  # a Ceph image of its own (a clone would tie it to the source)

    async def commit(self) -> str:
        try:
            await self._drain()
            await run_blocking(self._commit)
        except rbd.ImageExists as exc:
            await self.abort()
            raise Conflict(f"Image data of {self._image_id} already exists in the store") from exc
        except (rados.Error, rbd.Error) as exc:
            await self.abort()
            raise _error(exc, "write") from exc
        except GlimpseError:
            await self.abort()
            raise
        self._done = True
        return self._store.url(self._image_id, SNAPSHOT)

    def _abort(self) -> None:
        if self._image is not None:
            with contextlib.suppress(rbd.Error):
                self._image.close()
            self._image = None
        self._store.remove(self._name)

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        with contextlib.suppress(GlimpseError):  # the image is removed after them
            await self._drain()
        with contextlib.suppress(rados.Error, rbd.Error):  # the reaper retries from the lease
            await run_blocking(self._abort)


class RbdStore:
    writable = True

    def __init__(self, name: str, settings: RbdStoreSettings) -> None:
        self.name = name
        self.pool = settings.rbd_store_pool
        self.order = (settings.rbd_store_chunk_size * MiB).bit_length() - 1
        self._settings = settings
        self._cluster = self._handle()
        self._ioctx: Any = None
        self._connecting = threading.Lock()
        self.fsid: str | None = None

    # ---- the cluster (blocking; on the data pool)

    def _handle(self) -> Any:
        timeout = str(int(self._settings.rados_connect_timeout) or 15)
        return rados.Rados(
            conffile=self._settings.rbd_store_ceph_conf,
            rados_id=self._settings.rbd_store_user,
            conf={
                "client_mount_timeout": timeout,
                "rados_mon_op_timeout": timeout,
                "rados_osd_op_timeout": str(4 * int(timeout)),
                # librbd's cache would hold up to 32 MiB per open image for whole-block
                # sequential writes and reads that never come back to it
                "rbd_cache": "false",
                # librbd would copy each write (in case the caller changed the buffer in
                # flight); the bindings keep our bytes, which never change, until it ends
                "rbd_disable_zero_copy_writes": "false",
            },
        )

    def ioctx(self) -> Any:
        """The pool's I/O context, connecting on first use."""
        with self._connecting:
            if self._ioctx is None:
                if self._cluster.state != "connected":
                    try:
                        self._cluster.connect()
                    except rados.Error:
                        # a handle whose connect failed cannot connect again (EINPROGRESS
                        # for ever): the next use starts from a new one
                        self._cluster.shutdown()
                        self._cluster = self._handle()
                        raise
                self.fsid = self._cluster.get_fsid()
                self._ioctx = self._cluster.open_ioctx(self.pool)
            return self._ioctx

    def remove(self, name: str) -> None:
        """Remove the RBD image ``name`` and its snapshot; gone already is fine."""
        ioctx = self.ioctx()
        try:
            with rbd.Image(ioctx, name) as image:
                # clone v2 lets a snapshot with clones go (to the trash), so ask first
                _refuse_if_cloned(image)
                for snap in list(image.list_snaps()):
                    if image.is_protected_snap(snap["name"]):
                        image.unprotect_snap(snap["name"])
                    image.remove_snap(snap["name"])
            rbd.RBD().remove(ioctx, name)
        except rbd.ImageNotFound:
            return
        except (rbd.ImageBusy, rbd.ImageHasSnapshots) as exc:
            raise Conflict(f"Image data is in use: {exc}") from exc

    # ---- locations

    def url(self, name: str, snapshot: str | None = None) -> str:
        url = f"rbd://{self.fsid}/{self.pool}/{name}"
        return url if snapshot is None else f"{url}/{snapshot}"

    def _name(self, location: str) -> str | None:
        """The RBD image of one of this store's locations (final or partial)."""
        parsed = urlparse(location)
        pool, _, rest = parsed.path.lstrip("/").partition("/")
        name, _, snapshot = rest.partition("/")
        if parsed.scheme != "rbd" or pool != self.pool or not name or "/" in snapshot:
            return None
        if self.fsid is not None and parsed.netloc != self.fsid:
            return None
        partial = name.endswith(PARTIAL)
        if (snapshot == SNAPSHOT) == partial or (snapshot and snapshot != SNAPSHOT):
            return None
        return name

    def handles(self, location: str) -> bool:
        return self._name(location) is not None

    def _image_of(self, location: str) -> str:
        name = self._name(location)
        if name is None or name.endswith(PARTIAL):
            raise DataMissing(f"Location {location} is no image data of store {self.name}")
        return name

    async def _call(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await run_blocking(fn, *args)
        except (rados.Error, rbd.Error) as exc:
            raise _error(exc, action) from exc

    # ---- the Store protocol

    def _create(self, image_id: str, size: int) -> str:
        name = f"{image_id}.{secrets.token_hex(6)}{PARTIAL}"
        rbd.RBD().create(
            self.ioctx(), name, size, order=self.order, old_format=False,
            features=rbd.RBD_FEATURE_LAYERING,
        )  # fmt: skip
        return name

    async def writer(self, image_id: str, size_hint: int | None) -> RbdWriter:
        size = size_hint or 0
        name = await self._call("create an image", self._create, image_id, size)
        return RbdWriter(self, image_id, name, size)

    def _open(self, name: str) -> Any:
        return rbd.Image(self.ioctx(), name, snapshot=SNAPSHOT, read_only=True)

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        image = await self._call("read", self._open, self._image_of(location))
        return _chunks(image, offset, length)

    def _size(self, name: str) -> int:
        with self._open(name) as image:
            return int(image.size())

    async def size(self, location: str) -> int:
        return await self._call("read", self._size, self._image_of(location))

    def _modified(self, name: str) -> float:
        with rbd.Image(self.ioctx(), name, read_only=True) as image:
            return float(image.modify_timestamp().replace(tzinfo=UTC).timestamp())

    async def modified(self, location: str) -> float:
        name = self._name(location)
        if name is None:
            raise DataMissing(f"Location {location} does not belong to store {self.name}")
        return await self._call("read", self._modified, name)

    async def delete(self, location: str) -> None:
        name = self._name(location)
        if name is None:
            raise DataMissing(f"Location {location} does not belong to store {self.name}")
        await self._call("delete", self.remove, name)

    def _check_removable(self, name: str) -> None:
        try:
            with rbd.Image(self.ioctx(), name, read_only=True) as image:
                _refuse_if_cloned(image)
        except rbd.ImageNotFound:
            return

    async def check_removable(self, location: str) -> None:
        name = self._name(location)
        if name is not None:
            await self._call("read", self._check_removable, name)

    def _list(self) -> list[str]:
        names = rbd.RBD().list(self.ioctx())
        return [self.url(n, None if n.endswith(PARTIAL) else SNAPSHOT) for n in names]

    async def objects(self) -> AsyncIterator[str]:
        for location in await self._call("list", self._list):
            yield location

    async def properties(self) -> dict[str, Any]:
        if self.fsid is None:  # learnt on connecting; the cluster away: none to tell
            with contextlib.suppress(StoreUnavailable):
                await self.probe()
        return {
            "chunk_size": 1 << self.order,
            "pool": self.pool,
            "thin_provisioning": False,
            "fsid": self.fsid,
        }

    async def probe(self) -> None:
        await self._call(f"use pool {self.pool}", self.ioctx)


def _refuse_if_cloned(image: Any) -> None:
    for snap in list(image.list_snaps()):
        image.set_snap(snap["name"])
        if list(image.list_children2()):
            raise Conflict("Image data is in use: clones of its snapshot exist")
    image.set_snap(None)


async def _chunks(image: Any, offset: int, length: int | None) -> AsyncIterator[bytes]:
    """The image's bytes in chunks, the next one read while this one is sent; paid for
    from the transfer budget like every download."""
    try:
        async with (
            BUDGET.transfer(READ_CHUNK, parts=2) as chunk_size,
            contextlib.aclosing(_read_ahead(image, offset, length, chunk_size)) as chunks,
        ):
            async for chunk in chunks:
                yield chunk
    finally:
        await run_blocking(image.close)


async def _read_ahead(
    image: Any, offset: int, length: int | None, chunk_size: int
) -> AsyncGenerator[bytes, None]:
    size = await run_blocking(image.size)
    end = size if length is None else min(size, offset + length)
    position = offset

    def next_read() -> asyncio.Future[bytes] | None:
        nonlocal position
        if position >= end:
            return None
        count = min(chunk_size, end - position)
        future = submit_blocking(image.read, position, count)
        position += count
        return future

    pending = next_read()
    try:
        while pending is not None:
            try:
                chunk = await pending
            except rbd.Error as exc:
                pending = None
                raise _error(exc, "read") from exc
            pending = next_read()
            yield chunk
    finally:
        if pending is not None:  # the client went away: let the read finish first
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
