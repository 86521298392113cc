"""Image bytes in OpenStack Swift (python-swiftclient), laid out as Glance's swift store.

An image is the object named by its id in the container ``glance`` (``container``), or,
with ``multiple_containers_seed`` N, in ``glance_<the id's first N characters>``, so the
tools that rebuild Glance's Swift paths keep working. Locations name the account by a
reference, never by its credentials: ``swift+config://<reference>/<container>/<id>``
(Glance's form with ``swift_store_config_file``); locations of Glance's older form, with
the credentials in them, are read (with the store's own) when they name its auth address.

A write streams into segments of its own, ``<id>-<token>/00001`` …, in the image's
container, each PUT (chunked) as its bytes arrive: a block goes out on the socket before
``write`` returns, so nothing beyond the upload's budgeted blocks is held. ``commit``
puts a Static Large Object manifest at ``<id>``: the image appears whole or not at all,
and two uploads of one image never share a segment. ``abort`` removes the segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlparse

from keystoneauth1.identity.generic import Password
from keystoneauth1.session import Session
from swiftclient.client import ClientException, Connection

from glimpse.concurrency import run_blocking, run_on_own_thread, submit_blocking
from glimpse.errors import DataMissing, GlimpseError, NotFound, StorageFull, StoreUnavailable
from glimpse.memory import BUDGET

SCHEME = "swift+config"
GLANCE_SCHEMES = ("swift", "swift+http", "swift+https")
READ_CHUNK = 2 << 20
# a block goes to Swift in pieces this size: requests frames each chunk in a copy of
# its own, and copies that fit in the cache cost a tenth less CPU per GiB than whole
# 8 MiB blocks (4.5 against 5.1 CPU-s/GiB, 214 against 195 MB/s on the bench machine)
SEND_PIECE = 256 << 10
MiB = 1 << 20
# Swift's tokens live an hour or more (tempauth: a day; Keystone: an hour by default)
TOKEN_REUSE_SECONDS = 300.0
# one writer's segments: <image id>-<token>/<n>
_SEGMENT = re.compile(r"^(?P<head>.+-[0-9a-f]{12})/\d{5}$")
# a segment of a Glance-written dynamic large object: <image id>-<n>
_GLANCE_SEGMENT = re.compile(r"^(?P<owner>.+)-\d{5}$")
T = TypeVar("T")


def _store_error(exc: Exception, action: str) -> GlimpseError:
    status = getattr(exc, "http_status", None)
    if status == 413:
        return StorageFull(f"Image storage media is full: Swift refused to {action} (413)")
    if status is not None:
        reason = getattr(exc, "http_reason", "") or ""
        return StoreUnavailable(f"Swift could not {action}: {status} {reason}".rstrip())
    return StoreUnavailable(f"Swift could not {action}: {exc}")


def _missing(exc: Exception) -> bool:
    return getattr(exc, "http_status", None) == 404


@dataclass(frozen=True)
class KeystoneScope:
    """With Keystone auth: the domains of the user and project, and which object-store
    endpoint of the token's catalogue (Glance's options of the same names)."""

    user_domain_id: str = "default"
    user_domain_name: str = "default"
    project_domain_id: str = "default"
    project_domain_name: str = "default"
    region: str | None = None
    endpoint_type: str = "publicURL"
    service_type: str = "object-store"


class SwiftAccount:
    """The account's credentials and its current token, shared by every connection:
    Swift's v1 auth (tempauth) when ``keystone`` is None, else a Keystone user of a
    project (``user`` is ``"project:user"``, as Glance's) whose catalogue names Swift."""

    def __init__(
        self,
        auth_address: str,
        user: str,
        key: str,
        *,
        timeout: float,
        retries: int,
        keystone: KeystoneScope | None = None,
    ) -> None:
        self.auth_address = auth_address
        self.user = user
        self._key = key
        self.timeout = timeout
        self.retries = retries
        self._url: str | None = None
        self._token: str | None = None
        self._token_since = 0.0
        self._keystone = keystone
        self._session: Session | None = None
        if keystone is not None:
            project, _, username = user.rpartition(":")
            auth = Password(
                auth_url=auth_address,
                username=username,
                password=key,
                project_name=project,
                user_domain_id=keystone.user_domain_id,
                user_domain_name=keystone.user_domain_name,
                project_domain_id=keystone.project_domain_id,
                project_domain_name=keystone.project_domain_name,
            )
            # keystoneauth keeps the token and asks for a new one before it expires
            self._session = Session(auth=auth, timeout=timeout)

    def connect(self, *, retries: int | None = None) -> Connection:
        attempts = {
            "retries": self.retries if retries is None else retries,
            "starting_backoff": 0.5,
            "max_backoff": 2,
            "timeout": self.timeout,
        }
        if self._keystone is not None:
            options = {
                "service_type": self._keystone.service_type,
                "endpoint_type": self._keystone.endpoint_type,
                "region_name": self._keystone.region,
            }
            return Connection(session=self._session, os_options=options, **attempts)
        # a token is used for TOKEN_REUSE_SECONDS, then a new one is asked for: a streamed
        # segment cannot be sent again when Swift refuses an expired token midway
        fresh = time.monotonic() - self._token_since < TOKEN_REUSE_SECONDS
        return Connection(
            authurl=self.auth_address,
            user=self.user,
            key=self._key,
            auth_version="1",
            preauthurl=self._url if fresh else None,
            preauthtoken=self._token if fresh else None,
            **attempts,
        )

    def call(self, work: Callable[[Connection], T]) -> T:
        """``work`` on a connection of its own (blocking)."""
        connection = self.connect()
        try:
            return work(connection)
        finally:
            self.done(connection)

    def done(self, connection: Connection) -> None:
        # a token got on the way (the first, or a renewed one) serves the next calls; one
        # Swift refused (swiftclient then forgets it) serves none
        if connection.token != self._token:
            self._url, self._token = connection.url, connection.token
            self._token_since = time.monotonic() if connection.token else 0.0
        connection.close()


class _SegmentUpload:
    """One segment's PUT, its body fed from ``send`` while it runs on a thread."""

    _FINISH = object()
    _ABORT = object()

    def __init__(self, account: SwiftAccount, container: str, name: str) -> None:
        self.sent = 0
        self._loop = asyncio.get_running_loop()
        self._pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._taken: asyncio.Future[None] | None = None
        self.done = run_on_own_thread(
            account.call,
            lambda conn: conn.put_object(container, name, contents=self._body()),
        )

    def _body(self) -> Any:
        while True:
            piece = self._pieces.get()
            if piece is self._FINISH:
                return
            if piece is self._ABORT:
                raise ConnectionAbortedError("upload aborted")
            for start in range(0, len(piece), SEND_PIECE):
                yield piece[start : start + SEND_PIECE]
            # asked for the next piece: this one is on the socket, its buffer free again
            self._loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        if self._taken is not None and not self._taken.done():
            self._taken.set_result(None)

    async def send(self, piece: memoryview) -> None:
        self._taken = self._loop.create_future()
        self._pieces.put(piece)
        await asyncio.wait({self._taken, self.done}, return_when=asyncio.FIRST_COMPLETED)
        if not self._taken.done():
            self._taken.cancel()
            self.done.result()  # the PUT's error
            raise StoreUnavailable("Swift ended the upload early")
        self.sent += len(piece)

    async def finish(self) -> str:
        self._pieces.put(self._FINISH)
        etag: str = await self.done
        return etag

    def abort(self) -> None:
        # a PUT whose body fails is never completed: Swift keeps nothing of it
        self._pieces.put(self._ABORT)
        if not self.done.done():
            self.done.add_done_callback(lambda done: done.exception())


class SwiftWriter:
    def __init__(self, store: SwiftStore, container: str, image_id: str, segment_size: int) -> None:
        self._store = store
        self._account = store.account
        self._container = container
        self._image_id = image_id
        self._segment_size = segment_size
        self._prefix = f"{image_id}-{secrets.token_hex(6)}"
        self.partial_location = store.location(container, self._prefix)
        self._segments: list[dict[str, Any]] = []
        self._current: _SegmentUpload | None = None
        store.writing.add(self.partial_location)

    def _segment_name(self) -> str:
        return f"{self._prefix}/{len(self._segments) + 1:05d}"

    async def write(self, data: memoryview) -> None:
        try:
            while data:
                if self._current is None:
                    await self._store.container_ready(self._container)
                    self._current = _SegmentUpload(
                        self._account, self._container, self._segment_name()
                    )
                piece = data[: self._segment_size - self._current.sent]
                await self._current.send(piece)
                data = data[len(piece) :]
                if self._current.sent == self._segment_size:
                    await self._finish_segment()
        except GlimpseError:
            raise
        except Exception as exc:
            raise _store_error(exc, "store the image data") from exc

    async def _finish_segment(self) -> None:
        current, self._current = self._current, None
        assert current is not None
        name = self._segment_name()
        etag = await current.finish()
        self._segments.append(
            {"path": f"/{self._container}/{name}", "etag": etag, "size_bytes": current.sent}
        )

    def _put_manifest(self, conn: Connection) -> None:
        if not self._segments:  # no data: a plain empty object
            conn.put_object(self._container, self._image_id, contents=b"")
            return
        conn.put_object(
            self._container,
            self._image_id,
            contents=json.dumps(self._segments),
            query_string="multipart-manifest=put",
        )

    async def adopt(self, location: str) -> bool:
        return False  # the data goes up as segments of its own

    async def commit(self) -> str:
        try:
            if self._current is not None:
                await self._finish_segment()
            if not self._segments:
                await self._store.container_ready(self._container)
            await run_blocking(self._account.call, self._put_manifest)
        except GlimpseError:
            await self.abort()
            raise
        except Exception as exc:
            await self.abort()
            raise _store_error(exc, "commit the image data") from exc
        self._store.writing.discard(self.partial_location)
        return self._store.location(self._container, self._image_id)

    async def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None
        self._store.writing.discard(self.partial_location)
        with contextlib.suppress(Exception):  # the reaper retries from the lease
            await self._store.delete(self.partial_location)


class SwiftStore:
    writable = True

    def __init__(
        self,
        name: str,
        account: SwiftAccount,
        *,
        container: str = "glance",
        multiple_containers_seed: int = 0,
        create_container_on_put: bool = False,
        large_object_size: int = 5120 * MiB,
        large_object_chunk_size: int = 200 * MiB,
        reference: str | None = None,
    ) -> None:
        self.name = name
        self.account = account
        self.container = container
        self.seed = multiple_containers_seed
        self.create_container_on_put = create_container_on_put
        self.large_object_size = large_object_size
        self.large_object_chunk_size = large_object_chunk_size
        self.reference = reference or name
        # partial locations of this process's writes in flight: Swift lists a segment
        # only once its PUT completes, but they hold data already
        self.writing: set[str] = set()
        self._ready: set[str] = set()

    # -- places

    def container_for(self, image_id: str) -> str:
        """Glance's container of an image: the one container, or with the seed N the
        container named for the id's first N characters (its dashes not counted)."""
        if not self.seed:
            return self.container
        image_id = image_id.lower()
        width = self.seed + image_id[: self.seed].count("-")
        return f"{self.container}_{image_id[:width]}"

    def location(self, container: str, obj: str) -> str:
        return f"{SCHEME}://{self.reference}/{container}/{quote(obj)}"

    def _place(self, location: str) -> tuple[str, str]:
        parsed = urlparse(location)
        place = None
        if parsed.scheme == SCHEME and parsed.netloc == self.reference:
            place = parsed.path.lstrip("/")
        elif parsed.scheme in GLANCE_SCHEMES:
            # Glance's older form, swift+http://user:key@<auth address>/<container>/<id>:
            # read with this store's own credentials when the auth address is its own
            found = parsed.netloc.rpartition("@")[2] + parsed.path
            auth = urlparse(self.account.auth_address)
            if found.startswith(prefix := f"{auth.netloc}{auth.path.rstrip('/')}/"):
                place = found[len(prefix) :]
        container, _, obj = (place or "").partition("/")
        ours = container == self.container or (
            self.seed > 0 and container.startswith(f"{self.container}_")
        )
        if not ours or not obj:
            raise NotFound(f"Location {location} does not belong to store {self.name}")
        return container, unquote(obj)

    def handles(self, location: str) -> bool:
        try:
            self._place(location)
        except NotFound:
            return False
        return True

    async def container_ready(self, container: str) -> None:
        if not self.create_container_on_put or container in self._ready:
            return
        try:
            await run_blocking(self.account.call, lambda conn: conn.put_container(container))
        except Exception as exc:
            raise _store_error(exc, f"create the container {container}") from exc
        self._ready.add(container)

    # -- the protocol

    async def writer(self, image_id: str, size_hint: int | None) -> SwiftWriter:
        # an image Swift takes as one object is one segment; others are split
        whole = size_hint is not None and size_hint <= self.large_object_size
        segment_size = self.large_object_size if whole else self.large_object_chunk_size
        return SwiftWriter(self, self.container_for(image_id), image_id, segment_size)

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        container, obj = self._place(location)
        headers = {}
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        if length == 0:
            await self.size(location)  # DataMissing if there is none
            return _nothing()
        # no retries: swiftclient resumes a broken download from the object's start
        # offset, not the range's
        connection = self.account.connect(retries=0)

        def get() -> Any:
            return connection.get_object(
                container, obj, resp_chunk_size=READ_CHUNK, headers=headers
            )[1]

        try:
            body = await run_blocking(get)
        except Exception as exc:
            self.account.done(connection)
            if _missing(exc):
                raise DataMissing(f"Image data is missing from the store at {location}") from exc
            if getattr(exc, "http_status", None) == 416:  # from the very end: nothing
                return _nothing()
            raise _store_error(exc, "read the image data") from exc
        return _chunks(body, self.account, connection)

    async def _head(self, location: str) -> dict[str, str]:
        container, obj = self._place(location)
        try:
            headers: dict[str, str] = await run_blocking(
                self.account.call, lambda conn: conn.head_object(container, obj)
            )
        except Exception as exc:
            if _missing(exc):
                raise DataMissing(f"Image data is missing from the store at {location}") from exc
            raise _store_error(exc, "read the image data") from exc
        return headers

    async def size(self, location: str) -> int:
        return int((await self._head(location))["content-length"])

    async def modified(self, location: str) -> float:
        try:
            return float((await self._head(location))["x-timestamp"])
        except DataMissing:
            pass
        # a partial write: when its last segment was written
        container, obj = self._place(location)
        try:
            listing = await run_blocking(
                self.account.call,
                lambda conn: conn.get_container(container, prefix=f"{obj}/", full_listing=True)[1],
            )
        except Exception as exc:
            if _missing(exc):
                listing = []
            else:
                raise _store_error(exc, "list the image data") from exc
        if not listing:
            raise DataMissing(f"Image data is missing from the store at {location}")
        return max(
            datetime.fromisoformat(o["last_modified"] + "+00:00") for o in listing
        ).timestamp()

    def _delete(self, conn: Connection, container: str, obj: str) -> None:
        try:
            headers = conn.head_object(container, obj)
        except ClientException as exc:
            if not _missing(exc):
                raise
            headers = None
        if headers is None:
            # a partial write's segments (or nothing at all)
            _delete_under(conn, container, f"{obj}/")
        elif headers.get("x-static-large-object", "").lower() == "true":
            conn.delete_object(container, obj, query_string="multipart-manifest=delete")
        else:
            manifest = headers.get("x-object-manifest")
            if manifest:  # a dynamic large object (Glance's): its segments, then itself
                segment_container, _, prefix = manifest.partition("/")
                _delete_under(conn, unquote(segment_container), unquote(prefix))
            with contextlib.suppress(ClientException):
                conn.delete_object(container, obj)

    async def delete(self, location: str) -> None:
        container, obj = self._place(location)
        try:
            await run_blocking(self.account.call, lambda conn: self._delete(conn, container, obj))
        except Exception as exc:
            raise _store_error(exc, "delete the image data") from exc

    def _list(self, conn: Connection) -> list[str]:
        if self.seed:
            found = conn.get_account(prefix=f"{self.container}_", full_listing=True)[1]
            containers = [c["name"] for c in found]
        else:
            containers = [self.container]
        locations = []
        for container in containers:
            try:
                names = [o["name"] for o in conn.get_container(container, full_listing=True)[1]]
            except ClientException as exc:
                if _missing(exc):
                    continue
                raise
            owned = _Owned(conn, container, set(names))
            partial = set()
            for name in names:
                segment = _SEGMENT.match(name)
                if segment is not None:
                    if not owned.by_manifest(name, segment["head"].rsplit("-", 1)[0]):
                        partial.add(segment["head"])
                elif not owned.by_glance_manifest(name):
                    locations.append(self.location(container, name))
            locations += [self.location(container, head) for head in sorted(partial)]
        return locations

    async def objects(self) -> AsyncIterator[str]:
        try:
            found = await run_blocking(self.account.call, self._list)
        except Exception as exc:
            raise _store_error(exc, "list the image data") from exc
        for location in found:
            yield location
        for location in set(self.writing) - set(found):
            yield location

    async def check_removable(self, location: str) -> None:
        return  # nothing can depend on its data

    async def properties(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "large_object_size": self.large_object_size,
            "large_object_chunk_size": self.large_object_chunk_size,
        }

    async def probe(self) -> None:
        def check(conn: Connection) -> None:
            if self.create_container_on_put or self.seed:
                conn.head_account()
            else:
                conn.head_container(self.container)

        try:
            await run_blocking(self.account.call, check)
        except Exception as exc:
            if _missing(exc):
                raise StoreUnavailable(
                    f"Swift container {self.container} does not exist "
                    "(create it, or set create_container_on_put)"
                ) from exc
            raise _store_error(exc, "answer") from exc


class _Owned:
    """Which segments of a container the manifests of its images name."""

    def __init__(self, conn: Connection, container: str, names: set[str]) -> None:
        self._conn = conn
        self._container = container
        self._names = names
        self._manifests: dict[str, set[str]] = {}

    def _segments(self, owner: str) -> set[str]:
        if owner not in self._manifests:
            found: set[str] = set()
            if owner in self._names:
                headers = self._conn.head_object(self._container, owner)
                if headers.get("x-static-large-object", "").lower() == "true":
                    _, body = self._conn.get_object(
                        self._container, owner, query_string="multipart-manifest=get"
                    )
                    found = {unquote(s["name"]).lstrip("/") for s in json.loads(body)}
                elif headers.get("x-object-manifest"):
                    found = {"dlo:" + unquote(headers["x-object-manifest"])}
            self._manifests[owner] = found
        return self._manifests[owner]

    def by_manifest(self, name: str, owner: str) -> bool:
        return f"{self._container}/{name}" in self._segments(owner)

    def by_glance_manifest(self, name: str) -> bool:
        segment = _GLANCE_SEGMENT.match(name)
        if segment is None:
            return False
        return f"dlo:{self._container}/{segment['owner']}-" in self._segments(segment["owner"])


def _delete_under(conn: Connection, container: str, prefix: str) -> None:
    """Remove every object whose name starts with ``prefix``."""
    try:
        listing = conn.get_container(container, prefix=prefix, full_listing=True)[1]
    except ClientException as exc:
        if _missing(exc):
            return
        raise
    for found in listing:
        try:
            conn.delete_object(container, found["name"])
        except ClientException as exc:
            if not _missing(exc):
                raise


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


async def _chunks(
    body: Any, account: SwiftAccount, connection: Connection
) -> AsyncGenerator[bytes, None]:
    """The response body in chunks of the transfer budget's size, the next one read on a
    thread while this one is sent."""
    pending: asyncio.Future[bytes] | None = None
    try:
        async with BUDGET.transfer(READ_CHUNK, parts=2) as size:
            pending = submit_blocking(body.read, size)
            while chunk := await pending:
                pending = submit_blocking(body.read, size)
                yield chunk
    except Exception as exc:
        raise _store_error(exc, "read the image data") from exc
    finally:
        with contextlib.suppress(Exception):
            if pending is not None:  # the reader went away: let the read end first
                await asyncio.shield(pending)
        with contextlib.suppress(Exception):
            await run_blocking(account.done, connection)
