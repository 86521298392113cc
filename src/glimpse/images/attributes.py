"""Which image attributes a caller may set, and how: read-only, reserved, base."""

from __future__ import annotations

from glimpse.errors import Forbidden

# Never accepted anywhere from a caller.
READ_ONLY = frozenset(
    {"created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
     "self", "file", "schema", "os_hash_algo", "os_hash_value", "stores"}
)  # fmt: skip
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"

# Base attributes a caller may set on create; everything else is an extra property.
CREATE_BASE = frozenset(
    {"id", "name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
     "min_disk", "min_ram", "owner", "tags"}
)  # fmt: skip

# Base attributes PATCH may replace (never remove).
PATCH_BASE = CREATE_BASE - {"id"}

VISIBILITIES = ("public", "private", "shared", "community")


def check_settable(name: str, *, creating: bool) -> None:
    """403 for names a caller may never write."""
    if name in READ_ONLY or (not creating and name == "id"):
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX) or (creating and name == "locations"):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def counted_properties(properties: dict[str, str | None]) -> int:
    """Properties that count against image_property_quota (os_glance* are the server's)."""
    return sum(1 for name in properties if not name.startswith(RESERVED_PREFIX))
