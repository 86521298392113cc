"""Images, their locations and members as every capability sees them: plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from glimpse.clock import utcnow


class Status(StrEnum):
    """An image's status. Which changes are allowed is ``glimpse.images.status``'s table."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"


# Columns of the images table that the API shows as base attributes.
BASE_ATTRIBUTES = (
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "container_format",
    "disk_format", "min_disk", "min_ram", "created_at", "updated_at",
)  # fmt: skip


@dataclass(slots=True)
class Location:
    url: str
    metadata: dict[str, object] = field(default_factory=dict)
    store: str | None = None


@dataclass(slots=True)
class Image:
    id: str
    status: str = Status.QUEUED
    name: str | None = None
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    owner: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    container_format: str | None = None
    disk_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    properties: dict[str, str | None] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    # the stores holding the data, in the order of its locations (multi-store)
    stores: list[str] = field(default_factory=list)
    # each of those stores' first location URL (what `direct_url` shows)
    store_urls: dict[str, str] = field(default_factory=dict)
    # every location, in order (what `locations` shows with show_multiple_locations)
    locations: list[Location] = field(default_factory=list)

    def place(self, locations: list[Location]) -> None:
        """Set the image's locations, and from them its stores (each once, with its
        first location's URL)."""
        self.locations = locations
        self.store_urls = {}
        for location in locations:
            if location.store is not None:
                self.store_urls.setdefault(location.store, location.url)
        self.stores = list(self.store_urls)

    def base_values(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in BASE_ATTRIBUTES}


@dataclass(slots=True)
class Member:
    image_id: str
    member_id: str
    status: str = "pending"
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
