"""What the metadata definitions catalog holds: namespaces and, inside each, property
definitions, objects, tags and the resource types it applies to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# a property definition: a JSON-schema fragment (title, type, enum, …) without its name
Definition = dict[str, Any]


@dataclass(slots=True)
class Namespace:
    namespace: str
    owner: str
    visibility: str = "private"
    protected: bool = False
    display_name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class MetadefObject:
    name: str
    description: str | None = None
    required: list[str] | None = None
    properties: dict[str, Definition] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class Tag:
    name: str
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class ResourceType:
    name: str
    protected: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class Association:
    """A namespace applies to a resource type; ``prefix`` is put before its property
    names when they are used on that resource type (``hw_`` on images)."""

    name: str
    prefix: str | None = None
    properties_target: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class NamespaceContents:
    """Everything inside a namespace, as shown or created in one piece."""

    properties: dict[str, Definition] = field(default_factory=dict)
    objects: list[MetadefObject] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class NamespaceQuery:
    """What a namespace list asks for."""

    limit: int
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    visibility: str | None = None
    resource_types: tuple[str, ...] = ()
