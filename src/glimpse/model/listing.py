"""What a caller asked the image list for, parsed and checked: plain data for the repository."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from glimpse.model.images import Image

# Columns a list may be sorted by (anything else is a 400).
SORT_KEYS = frozenset(
    {"name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at"}
)

# Columns matched exactly, with `in:` lists allowed.
IN_FILTER_COLUMNS = frozenset({"name", "id", "status", "container_format", "disk_format"})

# Other image columns a filter may name directly (exact match).
EXACT_FILTER_COLUMNS = frozenset(
    {"owner", "checksum", "os_hash_value", "os_hash_algo", "min_ram", "min_disk", "size",
     "virtual_size"}
)  # fmt: skip

# Numeric columns that accept `<column>_min` / `<column>_max`.
RANGE_COLUMNS = frozenset({"size", "virtual_size", "min_ram", "min_disk"})

INTEGER_COLUMNS = frozenset({"size", "virtual_size", "min_ram", "min_disk"})

# The values each numeric column can hold (BIGINT, INTEGER): the databases refuse to
# compare a column with a number beyond them.
_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)
COLUMN_RANGES = {"size": _INT64, "virtual_size": _INT64, "min_ram": _INT32, "min_disk": _INT32}

TIME_OPERATORS = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})


@dataclass(slots=True)
class TimeFilter:
    column: str  # created_at | updated_at
    op: str  # one of TIME_OPERATORS
    value: datetime  # naive UTC


@dataclass(slots=True)
class ImageQuery:
    limit: int
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    # column -> accepted values (one value = exact match)
    values: dict[str, list[object]] = field(default_factory=dict)
    times: list[TimeFilter] = field(default_factory=list)
    # column -> (min, max), inclusive, either may be None
    ranges: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    visibility: str | None = None  # None = the default view
    member_status: str = "accepted"
    os_hidden: bool = False
    protected: bool | None = None


@dataclass(frozen=True, slots=True)
class ImagePage:
    """One page of a list: the images the caller may read, and the marker of the next
    page (the last of them, when the database filled the page)."""

    images: list[Image]
    next_marker: str | None
