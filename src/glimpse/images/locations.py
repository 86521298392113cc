"""Editing an image's locations through PATCH: Glance's ``show_multiple_locations``.

``add /locations/<N|->``, ``replace /locations`` and ``remove /locations/<N>``, with
Glance's rules and protections (OSSN-0065: an image's data cannot be swapped under its
users): new URLs only where a configured store can read them and never ``file://`` or
``swift+config://`` (another tenant's files, the operator's Swift credentials); an
HTTP(S) URL held to the import filters; ``replace`` may only change the metadata of an
image's locations, never its URLs; removing a location is an admin's (policy
``delete_image_location``), never of the last one; checksums and hashes given with a
location may only fill what an image does not say yet.

What needs the network — whether a URL has data, and how much — is asked before the
unit of work (:class:`UrlChecker`); the edit itself (:class:`LocationEdit`) runs inside
it, against the image as it is then.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from glimpse.errors import (
    Conflict,
    GlimpseError,
    InvalidInput,
    LimitExceeded,
    NotPermitted,
)
from glimpse.images.attributes import within_quota
from glimpse.model.images import Image, Location, Status
from glimpse.stores.registry import StoreRegistry
from glimpse.stores.web_guard import UrlRefused, WebGuard

# another tenant's files, the operator's Swift credentials: never a location to add
RESTRICTED_SCHEMES = frozenset({"file", "filesystem", "swift+config"})
EDITABLE = frozenset({Status.QUEUED, Status.ACTIVE})
_VALIDATION_KEYS = ("checksum", "os_hash_algo", "os_hash_value")


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """What a URL holds (its size and the store reading it), or why it is refused."""

    size: int = 0
    store: str | None = None
    refusal: GlimpseError | None = None

    def accepted(self) -> CheckedUrl:
        if self.refusal is not None:
            raise self.refusal
        return self


class UrlChecker:
    def __init__(self, stores: StoreRegistry, guard: WebGuard) -> None:
        self.stores = stores
        self.guard = guard

    async def check_all(self, urls: set[str]) -> dict[str, CheckedUrl]:
        found = await asyncio.gather(*(self.check(url) for url in urls))
        return dict(zip(urls, found, strict=True))

    async def check(self, url: str) -> CheckedUrl:
        """Glance's check of a new location: a configured store reads it, its scheme is
        not restricted, an HTTP(S) URL passes the import filters, and it holds data."""
        invalid = CheckedUrl(refusal=InvalidInput("Invalid location"))
        scheme = urlsplit(url).scheme.lower()
        if not url or scheme in RESTRICTED_SCHEMES:
            return invalid
        store = next((s for s in self.stores if s.handles(url)), None)
        if store is None:
            return invalid
        try:
            if scheme in ("http", "https"):
                await self.guard.check_request(url)
            size = await store.size(url)
        except (UrlRefused, GlimpseError):
            return invalid
        return CheckedUrl(size=size, store=store.name) if size > 0 else invalid


def check_metadata(value: Any, key: str | None = None) -> None:
    """A location's metadata holds objects, lists and strings only (what Glance's stores
    accept; Glance answers anything else with a 500)."""
    if isinstance(value, dict):
        for name, item in value.items():
            check_metadata(item, name)
    elif isinstance(value, list):
        for item in value:
            check_metadata(item, key)
    elif not isinstance(value, str):
        raise InvalidInput(
            f"The image metadata key {key} has an invalid type of {type(value).__name__}. "
            "Only dict, list, and unicode are supported."
        )


def position(raw: str | None, count: int, *, past_end: bool) -> int | None:
    """Glance's pointer into the locations: a number or ``-`` (the end); for an add any
    number (past the end appends), for a remove an existing index."""
    if raw is None:
        return None
    pos = count if past_end else count - 1
    if raw.isdigit():
        pos = int(raw)
    elif raw != "-":
        return None
    if not past_end and not 0 <= pos < count:
        return None
    return pos


@dataclass(slots=True)
class LocationEdit:
    """The location operations of one PATCH, applied in memory to ``image``: its
    locations and the attributes a location fills (size, checksums, status)."""

    image: Image
    checked: dict[str, CheckedUrl]
    quota: int
    hashing_algorithm: str
    locations: list[Location] = field(init=False)
    values: dict[str, Any] = field(default_factory=dict)  # attributes to set
    added: list[Location] = field(default_factory=list)  # new data, for the storage quota
    activate: bool = False
    changed: bool = False

    def __post_init__(self) -> None:
        self.locations = list(self.image.locations)

    def _editable(self, verb: str, statuses: frozenset[Status] = EDITABLE) -> None:
        if self.image.status not in statuses:
            raise Conflict(
                f"It's not allowed to {verb} locations if image status is {self.image.status}."
            )

    def add(self, raw_position: str | None, value: dict[str, Any]) -> None:
        self._editable("add")
        found = self._validation_values([value])
        pos = position(raw_position, len(self.locations), past_end=True)
        if pos is None:
            raise InvalidInput("Invalid position for adding a location.")
        if not within_quota(len(self.locations) + 1, self.quota):
            raise LimitExceeded(
                "The limit has been exceeded on the number of allowed image locations. "
                f"Attempted: {len(self.locations) + 1}, Maximum: {self.quota}"
            )
        location = self._new(value)
        if any(_same(location, old) for old in self.locations):
            raise InvalidInput(f"The location {location.url} already exists")
        self.locations.insert(pos, location)
        self.added.append(location)
        self._filled(found, [location])

    def replace(self, value: list[dict[str, Any]]) -> None:
        self._editable("replace")
        found = self._validation_values(value)
        if not within_quota(len(value), self.quota):
            raise LimitExceeded(
                "The limit has been exceeded on the number of allowed image locations. "
                f"Attempted: {len(value)}, Maximum: {self.quota}"
            )
        urls = sorted(item["url"] for item in value)
        current = sorted(location.url for location in self.locations)
        if self.locations and urls != current:
            shown = [{"url": loc.url, "metadata": loc.metadata} for loc in self.locations]
            raise InvalidInput(f"Original locations is not empty: {shown}")
        if urls == current:
            # the same URLs: only metadata changes, nothing to check again
            stores = {location.url: location.store for location in self.locations}
            for item in value:
                check_metadata(item.get("metadata", {}))
            self.locations = [
                Location(item["url"], dict(item.get("metadata", {})), stores[item["url"]])
                for item in value
            ]
            self.changed = True
            return
        fresh = [self._new(item) for item in value]
        for location in fresh:
            if sum(_same(location, other) for other in fresh) > 1:
                raise InvalidInput(f"The location {location.url} already exists")
        self.locations = fresh
        self.added.extend(fresh)
        self._filled(found, fresh)

    def remove(self, raw_position: str | None) -> None:
        self._editable("remove", frozenset({Status.ACTIVE}))
        if len(self.locations) == 1:
            raise NotPermitted("Cannot remove last location in the image.")
        pos = position(raw_position, len(self.locations), past_end=False)
        if pos is None:
            raise InvalidInput("Invalid position for removing a location.")
        del self.locations[pos]
        self.changed = True

    def check_storage(self, used: int, quota: int) -> None:
        """Glance's user_storage_quota: each new location counts the image's size again."""
        required = (self.image.size or self.values.get("size") or 0) * len(self.added)
        remaining = quota - used
        if quota and required > remaining:
            raise LimitExceeded(
                f"The size of the data {required} will exceed the limit. "
                f"{remaining} bytes remaining."
            )

    def removed(self) -> list[Location]:
        """The image's locations at URLs this edit let go of (data is per URL)."""
        kept = {location.url for location in self.locations}
        return [location for location in self.image.locations if location.url not in kept]

    def _new(self, value: dict[str, Any]) -> Location:
        url = value.get("url", "")
        checked = self.checked.get(url, CheckedUrl(refusal=InvalidInput("Invalid location")))
        checked.accepted()
        metadata = dict(value.get("metadata", {}))
        check_metadata(metadata)
        return Location(url, metadata, checked.store)

    def _filled(self, found: dict[str, str], added: list[Location]) -> None:
        """An image without a size takes its new data's; a queued one becomes active
        with the checksums given."""
        self.changed = True
        if not self.image.size and self.values.get("size") is None:
            self.values["size"] = next(
                (self.checked[loc.url].size for loc in added if loc.url in self.checked), None
            )
        if self.image.status == Status.QUEUED:
            if not self.image.disk_format or not self.image.container_format:
                raise InvalidInput(
                    "Properties disk_format, container_format must be set prior to saving data."
                )
            self.values.update(found)
            self.activate = True

    def _validation_values(self, values: list[dict[str, Any]]) -> dict[str, str]:
        """Glance's rules for ``validation_data``: one value per key across the
        locations, equal to what the image says already, new values only while it is
        queued, and well-formed for md5 and the configured hashing algorithm."""
        given: dict[str, str] = {}
        for value in values:
            for key, item in (value.get("validation_data") or {}).items():
                if given.get(key, item) != item:
                    raise Conflict(f"Conflicting values for {key}")
                given[key] = item
        new: dict[str, str] = {}
        for key, item in given.items():
            current = getattr(self.image, key)
            if item == current:
                continue
            if current:
                raise Conflict(f"{key} is already set with a different value")
            new[key] = item
        if not new:
            return {}
        if self.image.status != Status.QUEUED:
            raise Conflict(
                f"New value(s) for {', '.join(new)} may only be provided when image "
                "status is 'queued'"
            )
        if "checksum" in new:
            _hex(new["checksum"], "checksum", "md5", 16)
        algo = new.get("os_hash_algo")
        if algo != self.hashing_algorithm:
            raise Conflict(f"os_hash_algo must be {self.hashing_algorithm}, not {algo}")
        _hex(new["os_hash_value"], "os_hash_value", algo, hashlib.new(algo).digest_size)
        return {key: new[key] for key in _VALIDATION_KEYS if key in new}


def _hex(value: str, name: str, algo: str, size: int) -> None:
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        raise Conflict(f"{name} ({value}) is not a valid hexadecimal value") from None
    if len(digest) != size:
        raise Conflict(
            f"{name} ({value}) is not the correct size for {algo} (should be {size} bytes)"
        )


def _same(one: Location, other: Location) -> bool:
    return one.url == other.url and one.metadata == other.metadata
