"""``glimpse verify``: does the stored data still match what the images say?

Every location of every image with data is read back (at most ``rate_mb_s`` megabytes a
second, if set) and its size, md5 ``checksum`` and ``os_hash_value`` compared with the
image record. Found: *corrupted* images (the bytes differ), *missing* data (an image
whose bytes are gone), and *orphans* (objects in a store that no image, upload, staged
import or pending removal owns). With ``fix``, corrupted active images are deactivated
(admins may still download them to look; nobody else can) and orphans older than the
grace period are removed.

A pass holds the ``verify`` job lease (``tasks/leases.py``): of several nodes over one
database, one verifies at a time, and the periodic pass runs once an interval across them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, union

from glimpse import metrics
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.db.tables import (
    image_locations,
    image_staged,
    image_uploads,
    images,
    orphaned_data,
)
from glimpse.errors import DataMissing, GlimpseError
from glimpse.images.repository import ImageRepository
from glimpse.images.status import Move
from glimpse.model.images import Location, Status
from glimpse.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

_WITH_DATA = (Status.ACTIVE, Status.DEACTIVATED)

VERIFY_JOB = "verify"  # the name of its job lease


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # corrupted | missing | orphan
    location: str
    image_id: str | None = None
    detail: str = ""
    fixed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "image_id": self.image_id, "location": self.location,
                "detail": self.detail, "fixed": self.fixed}  # fmt: skip


@dataclass(slots=True)
class Report:
    images_checked: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> dict[str, Any]:
        return {
            "images_checked": self.images_checked,
            "bytes_read": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "corrupted": self.count("corrupted"),
            "missing": self.count("missing"),
            "orphans": self.count("orphan"),
            "findings": [finding.as_dict() for finding in self.findings],
        }


@dataclass(frozen=True, slots=True)
class _Stored:
    image_id: str
    status: str
    url: str
    store: str | None
    size: int | None
    checksum: str | None
    hash_algo: str | None
    hash_value: str | None


def _stored(conn: Connection) -> list[_Stored]:
    query = (
        select(
            images.c.id,
            images.c.status,
            image_locations.c.url,
            image_locations.c.store,
            images.c.size,
            images.c.checksum,
            images.c.os_hash_algo,
            images.c.os_hash_value,
        )
        .join(image_locations, image_locations.c.image_id == images.c.id)
        .where(images.c.status.in_(_WITH_DATA))
        .order_by(images.c.id)
    )
    return [_Stored(*row) for row in conn.execute(query)]


def _owned(conn: Connection) -> set[str]:
    """Every location something owns: images (any status: pending_delete data waits for
    its scrubber), uploads in flight, staged imports, data queued for removal."""
    query = union(
        select(image_locations.c.url),
        select(image_uploads.c.location),
        select(image_staged.c.location),
        select(orphaned_data.c.location),
    )
    return {row[0] for row in conn.execute(query)}


class _Pace:
    """Keeps reading under ``rate`` bytes a second (0: as fast as it goes)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.done = 0

    async def took(self, count: int) -> None:
        self.done += count
        if self.rate <= 0:
            return
        ahead = self.done / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


class Verifier:
    def __init__(self, db: Database, stores: StoreRegistry) -> None:
        self.db = db
        self.images = UnitsOfWork(db, ImageRepository)
        self.stores = stores

    async def run(
        self, *, fix: bool = False, grace_seconds: float = 86400.0, rate_mb_s: float = 0.0
    ) -> Report:
        started = time.monotonic()
        report = Report()
        pace = _Pace(rate_mb_s * 1_000_000)
        stored = await self.db.read(_stored)
        report.images_checked = len({item.image_id for item in stored})
        for item in stored:
            finding = await self._check(item, pace, report)
            if finding is not None:
                if fix and finding.kind == "corrupted" and item.status == Status.ACTIVE:
                    finding = await self._deactivate(finding)
                report.findings.append(finding)
        owned = await self.db.read(_owned)
        for store in self.stores:
            async for location in store.objects():
                if location in owned:
                    continue
                try:
                    age = time.time() - await store.modified(location)
                except DataMissing:
                    continue  # removed meanwhile
                finding = Finding("orphan", location, detail=f"{age:.0f} s old in {store.name}")
                # owned since the listing (an upload that just finished)?
                if fix and age >= grace_seconds and location not in await self.db.read(_owned):
                    await store.delete(location)
                    finding = Finding(finding.kind, location, None, finding.detail, True)
                report.findings.append(finding)
        report.seconds = time.monotonic() - started
        for kind in ("corrupted", "missing", "orphan"):
            metrics.record_verification(kind, report.count(kind))
        return report

    async def _check(self, item: _Stored, pace: _Pace, report: Report) -> Finding | None:
        try:
            store = self.stores.for_location(Location(url=item.url, store=item.store))
        except GlimpseError as exc:
            return Finding("missing", item.url, item.image_id, exc.message)
        md5 = hashlib.md5(usedforsecurity=False)
        multihash = hashlib.new(item.hash_algo) if item.hash_algo else None
        size = 0
        try:
            async for chunk in await store.read(item.url):
                size += len(chunk)
                await asyncio.to_thread(_update, md5, multihash, chunk)
                report.bytes_read += len(chunk)
                metrics.count_verified_bytes(len(chunk))
                await pace.took(len(chunk))
        except DataMissing:
            return Finding("missing", item.url, item.image_id, f"{item.status} image, no data")
        problems = []
        if item.size is not None and size != item.size:
            problems.append(f"size {size} != {item.size}")
        if item.checksum and md5.hexdigest() != item.checksum:
            problems.append("checksum differs")
        if multihash is not None and item.hash_value and multihash.hexdigest() != item.hash_value:
            problems.append("os_hash_value differs")
        if problems:
            return Finding("corrupted", item.url, item.image_id, "; ".join(problems))
        return None

    async def _deactivate(self, finding: Finding) -> Finding:
        image_id = finding.image_id or ""
        moved = await self.images.write(lambda repo: repo.move(image_id, Move.DEACTIVATE))
        if moved:
            log.warning("verify: deactivated corrupted image %s (%s)", image_id, finding.detail)
        return Finding(finding.kind, finding.location, image_id, finding.detail, moved)


def _update(md5: Any, multihash: Any, chunk: bytes) -> None:
    md5.update(chunk)
    if multihash is not None:
        multihash.update(chunk)
