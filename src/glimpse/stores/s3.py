"""Image bytes as objects in one S3 bucket (AWS, Ceph RGW, MinIO): ``<bucket>/<image id>``,
Glance's layout.

Locations are Glance's ``s3://<host>/<bucket>/<image id>`` (``s3+https://`` for an HTTPS
endpoint), without the credentials Glance writes into them: locations are shown to API
callers. Locations Glance wrote, credentials and all, are read with this store's own.

Every write is a multipart upload sent part by part, whatever the size: at most two parts
are in memory (one filling, one on its way), paid for from the transfer budget, so an
upload of unknown size never holds the whole image. The upload in flight is the partial
location (``…?upload=<id>``): listed, aborted on abort, and removable by the reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from glimpse.concurrency import run_blocking, submit_blocking
from glimpse.config import S3StoreSettings
from glimpse.errors import DataMissing, GlimpseError, StorageFull, StoreUnavailable
from glimpse.memory import BUDGET

MiB = 1 << 20
# S3's rules for multipart uploads
MIN_PART = 5 * MiB
MAX_PARTS = 10_000
READ_CHUNK = 2 * MiB
SCHEMES = ("s3", "s3+http", "s3+https")
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound", "404"})
_FULL = frozenset({"QuotaExceeded", "EntityTooLarge", "InsufficientCapacity"})


def _error(exc: Exception, action: str, *, reading: bool = True) -> GlimpseError:
    """What a failed call means; a missing bucket or upload is no missing data to a write."""
    if isinstance(exc, ClientError):
        code = _code(exc)
        if reading and code in _MISSING:
            return DataMissing(f"Image data is missing from the S3 store ({code})")
        if code in _FULL:
            return StorageFull(f"Image storage media is full: S3 says {code}")
        return StoreUnavailable(f"S3 store could not {action}: {code or exc}")
    return StoreUnavailable(f"S3 store could not {action}: {exc}")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Writer:
    def __init__(self, store: S3Store, key: str, upload_id: str, part_size: int) -> None:
        self._store = store
        self._key = key
        self._upload_id = upload_id
        self.partial_location = store.url(key, upload_id)
        self._part_size = part_size
        self._filling = bytearray(part_size)
        self._spare = bytearray(part_size)
        self._filled = 0
        self._sending: asyncio.Future[dict[str, Any]] | None = None
        self._parts: list[dict[str, Any]] = []
        self._budget = contextlib.AsyncExitStack()
        self._done = False

    async def take_budget(self) -> None:
        await self._budget.enter_async_context(
            BUDGET.transfer(self._part_size, parts=2, minimum=self._part_size)
        )

    async def write(self, data: memoryview) -> None:
        while data:
            room = self._part_size - self._filled
            taken = data[:room]
            self._filling[self._filled : self._filled + len(taken)] = taken
            self._filled += len(taken)
            data = data[len(taken) :]
            if self._filled == self._part_size:
                await self._send_part()

    async def _send_part(self) -> None:
        """Send the filled part (waiting for the one before, whose buffer is next)."""
        await self._sent()
        if len(self._parts) >= MAX_PARTS:
            raise StorageFull(f"An S3 upload takes at most {MAX_PARTS} parts")
        # a full buffer goes as it is; a short last part is copied (boto takes no views)
        full = self._filled == self._part_size
        body = self._filling if full else bytes(memoryview(self._filling)[: self._filled])
        self._sending = submit_blocking(
            self._store.upload_part, self._key, self._upload_id, len(self._parts) + 1, body
        )
        self._filling, self._spare = self._spare, self._filling
        self._filled = 0

    async def _sent(self) -> None:
        if self._sending is None:
            return
        sending, self._sending = self._sending, None
        try:
            self._parts.append(await sending)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "write", reading=False) from exc

    async def adopt(self, location: str) -> bool:
        return False  # every write is its own multipart upload

    async def commit(self) -> str:
        try:
            # the last part (S3 takes a short last part; an empty one when nothing came)
            if self._filled or not self._parts:
                await self._send_part()
            await self._sent()
            await run_blocking(self._store.complete, self._key, self._upload_id, self._parts)
        except (ClientError, BotoCoreError) as exc:
            await self.abort()
            raise _error(exc, "write", reading=False) from exc
        except BaseException:
            await self.abort()
            raise
        self._done = True
        await self._budget.aclose()
        return self._store.url(self._key)

    async def abort(self) -> None:
        if self._done:
            return
        self._done = True
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._sending)
            self._sending = None
        with contextlib.suppress(GlimpseError):  # the reaper retries from the lease
            await self._store.delete(self.partial_location)
        await self._budget.aclose()


class S3Store:
    writable = True

    def __init__(self, name: str, settings: S3StoreSettings) -> None:
        self.name = name
        endpoint = settings.s3_store_host.rstrip("/")
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        parsed = urlparse(endpoint)
        self._scheme = "s3+https" if parsed.scheme == "https" else "s3"
        self._netloc = parsed.netloc.lower()
        self.bucket = settings.s3_store_bucket
        self.create_bucket = settings.s3_store_create_bucket_on_put
        self.part_size = settings.s3_store_large_object_chunk_size * MiB
        self.large_object_size = settings.s3_store_large_object_size * MiB
        self._region = settings.s3_store_region_name or None
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=self._region,
            aws_access_key_id=settings.s3_store_access_key.get_secret_value(),
            aws_secret_access_key=settings.s3_store_secret_key.get_secret_value(),
            config=Config(
                s3={"addressing_style": settings.s3_store_bucket_url_format},
                connect_timeout=5,
                read_timeout=60,
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=64,
                # glimpse hashes every byte itself; S3's own checksums would do it again
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    # ---- locations

    def url(self, key: str, upload_id: str | None = None) -> str:
        url = f"{self._scheme}://{self._netloc}/{self.bucket}/{quote(key)}"
        return url if upload_id is None else f"{url}?upload={quote(upload_id, safe='')}"

    def _parse(self, location: str) -> tuple[str, str | None] | None:
        """(key, upload id of a partial write) of one of this store's locations."""
        parsed = urlparse(location)
        netloc = parsed.netloc.rpartition("@")[2].lower()  # Glance's carry credentials
        bucket, _, key = parsed.path.lstrip("/").partition("/")
        if parsed.scheme not in SCHEMES or netloc != self._netloc or bucket != self.bucket:
            return None
        if not key:
            return None
        upload = parse_qs(parsed.query).get("upload")
        return key, (upload[0] if upload else None)

    def _key(self, location: str) -> str:
        found = self._parse(location)
        if found is None or found[1] is not None:
            raise DataMissing(f"Location {location} is no image data of store {self.name}")
        return found[0]

    def handles(self, location: str) -> bool:
        return self._parse(location) is not None

    # ---- blocking client calls (run on the data pool)

    def _start_upload(self, key: str) -> str:
        try:
            reply = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket" or not self.create_bucket:
                raise
            self._create_bucket()
            reply = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        return str(reply["UploadId"])

    def _create_bucket(self) -> None:
        extra = {}
        if self._region and self._region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as exc:
            if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray
    ) -> dict[str, Any]:
        reply = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"PartNumber": number, "ETag": reply["ETag"]}

    def complete(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def _head(self, key: str) -> dict[str, Any]:
        reply: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        return reply

    def _get(self, key: str, offset: int, length: int | None) -> Any:
        if offset == 0 and length is None:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        end = "" if length is None else str(offset + length - 1)
        try:
            return self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{end}"
            )["Body"]
        except ClientError as exc:
            if _code(exc) != "InvalidRange":
                raise
            self._head(key)  # past the end of data that is there: no bytes
            return None

    def _uploads(self) -> list[tuple[str, str, float]]:
        found = []
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket)
        for page in pages:
            for upload in page.get("Uploads", []):
                found.append((upload["Key"], upload["UploadId"], upload["Initiated"].timestamp()))
        return found

    def _list(self) -> list[str]:
        try:
            keys = [
                item["Key"]
                for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket
                )
                for item in page.get("Contents", [])
            ]
            uploads = self._uploads()
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":
                return []
            raise
        return [self.url(key) for key in keys] + [self.url(key, up) for key, up, _ in uploads]

    def _delete(self, location: str) -> None:
        found = self._parse(location)
        if found is None:
            raise DataMissing(f"Location {location} does not belong to store {self.name}")
        key, upload_id = found
        try:
            if upload_id is None:
                self.client.delete_object(Bucket=self.bucket, Key=key)
            else:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) not in _MISSING:
                raise

    def _probe(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket") or not self.create_bucket:
                raise

    # ---- the Store protocol

    async def writer(self, image_id: str, size_hint: int | None) -> S3Writer:
        # parts big enough for the whole image within S3's part count, when it is known
        least = max(MIN_PART, -(-(size_hint or 0) // MAX_PARTS))
        part_size = max(least, BUDGET.share(self.part_size, parts=2, minimum=least))
        try:
            upload_id = await run_blocking(self._start_upload, image_id)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "start an upload", reading=False) from exc
        writer = S3Writer(self, image_id, upload_id, part_size)
        try:
            await writer.take_budget()
        except BaseException:
            await writer.abort()
            raise
        return writer

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        key = self._key(location)
        try:
            body = await run_blocking(self._get, key, offset, length)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "read") from exc
        return _chunks(body)

    async def _head_of(self, location: str) -> dict[str, Any]:
        key = self._key(location)
        try:
            return await run_blocking(self._head, key)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "read") from exc

    async def size(self, location: str) -> int:
        return int((await self._head_of(location))["ContentLength"])

    async def modified(self, location: str) -> float:
        found = self._parse(location)
        if found is not None and found[1] is not None:
            key, upload_id = found
            try:
                uploads = await run_blocking(self._uploads)
            except (ClientError, BotoCoreError) as exc:
                raise _error(exc, "list uploads") from exc
            for up_key, up_id, initiated in uploads:
                if (up_key, up_id) == (key, upload_id):
                    return initiated
            raise DataMissing(f"No upload in flight at {location}")
        return float((await self._head_of(location))["LastModified"].timestamp())

    async def delete(self, location: str) -> None:
        try:
            await run_blocking(self._delete, location)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "delete") from exc

    async def objects(self) -> AsyncIterator[str]:
        try:
            found = await run_blocking(self._list)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "list") from exc
        for location in found:
            yield location

    async def check_removable(self, location: str) -> None:
        return  # nothing can depend on its data

    async def properties(self) -> dict[str, Any]:
        return {
            "s3_store_large_object_size": self.large_object_size,
            "s3_store_large_object_chunk_size": self.part_size,
            "s3_store_thread_pools": 10,  # Glance's default (parts go up as they arrive)
        }

    async def probe(self) -> None:
        try:
            await run_blocking(self._probe)
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"use bucket {self.bucket}", reading=False) from exc


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    """The body in chunks, the next one read while this one is sent; paid for from the
    transfer budget like every download."""
    if body is None:
        return
    async with (
        BUDGET.transfer(READ_CHUNK, parts=2) as chunk_size,
        contextlib.aclosing(_read_ahead(body, chunk_size)) as chunks,
    ):
        async for chunk in chunks:
            yield chunk


async def _read_ahead(body: Any, chunk_size: int) -> AsyncGenerator[bytes, None]:
    next_chunk: asyncio.Future[bytes] | None = submit_blocking(body.read, chunk_size)
    try:
        while next_chunk is not None:
            try:
                chunk = await next_chunk
            except (ClientError, BotoCoreError, OSError) as exc:
                next_chunk = None
                raise _error(exc, "read") from exc
            if not chunk:
                next_chunk = None
                break
            next_chunk = submit_blocking(body.read, chunk_size)
            yield chunk
    finally:
        if next_chunk is not None:  # the client went away: let the read finish first
            with contextlib.suppress(Exception):
                await asyncio.shield(next_chunk)
        body.close()
