"""Which image attributes a caller may set, and how: read-only, reserved, base."""

from __future__ import annotations

from glimpse.errors import InvalidInput, NotPermitted

# Refused in a create body before anything else is looked at.
CREATE_DISALLOWED = ("direct_url", "self", "file", "schema", "stores")
# Server-maintained base attributes: never written by a caller.
READ_ONLY = frozenset(
    {"created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
     "self", "file", "schema", "os_hash_algo", "os_hash_value"}
)  # fmt: skip
# Accepted in a create body, as Glance accepts them (clients that copy an image's view
# into a create send them), and dropped: the hashes are the server's to compute.
CREATE_IGNORED = frozenset({"os_hash_algo", "os_hash_value"})
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"

# Base attributes a caller may set on create; everything else is an extra property.
CREATE_BASE = frozenset(
    {"id", "name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
     "min_disk", "min_ram", "owner", "tags"}
)  # fmt: skip

# Base attributes PATCH may replace (never remove).
PATCH_BASE = CREATE_BASE - {"id"}


def check_patchable(name: str) -> None:
    """403 for a PATCH path a caller may never touch (Glance's order: read-only first)."""
    if name in READ_ONLY or name == "id":
        raise NotPermitted(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise NotPermitted(f"Attribute '{name}' is reserved.")


def check_create_keys(body: dict[str, object]) -> None:
    """The first check of a create body: keys that can only ever be rendered."""
    for name in CREATE_DISALLOWED:
        if name in body:
            raise NotPermitted(f"Attribute '{name}' is read-only.")


def check_create_extra(name: str) -> None:
    """An additional property of a create body: 400 if its name is too long, 403 if reserved."""
    if len(name) > 255:
        raise InvalidInput("Custom property should not be greater than 255 characters.")
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise NotPermitted(f"Attribute '{name}' is reserved.")


# The longest additional property value: what Glance's production column (MySQL TEXT)
# holds, so no Glance client relies on more, and image views stay bounded.
MAX_PROPERTY_VALUE = 65535


def check_property_size(name: str, value: object) -> None:
    """400 for an additional property too big to store: a name over 255 characters (its
    column's width) or a value over MAX_PROPERTY_VALUE characters."""
    if len(name) > 255:
        raise InvalidInput("Custom property should not be greater than 255 characters.")
    if isinstance(value, str) and len(value) > MAX_PROPERTY_VALUE:
        raise InvalidInput(
            f"Custom property values should not be longer than {MAX_PROPERTY_VALUE} characters."
        )


def check_create_base(body: dict[str, object]) -> None:
    """Server-maintained attributes and ``locations`` in a create body: 403."""
    for name in body:
        if name in READ_ONLY and name not in CREATE_IGNORED:
            raise NotPermitted(f"Attribute '{name}' is read-only.")
        if name == "locations":
            raise NotPermitted(f"Attribute '{name}' is reserved.")


def within_quota(count: int, quota: int) -> bool:
    """Glance's quota rule: a negative quota means unlimited."""
    return quota < 0 or count <= quota


def counted_properties(properties: dict[str, str | None]) -> int:
    """Properties that count against image_property_quota (os_glance* are the server's)."""
    return sum(1 for name in properties if not name.startswith(RESERVED_PREFIX))
