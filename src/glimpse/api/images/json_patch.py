"""PATCH bodies in both media types Glance accepts, parsed into :class:`PatchOp`.

``application/openstack-images-v2.1-json-patch``: RFC 6902 objects (``op``/``path``/
``value``), only add/remove/replace. ``…-v2.0-json-patch`` (the legacy draft, still used
by Tempest): ``{"add"|"remove"|"replace": path, "value": …}``.

Each operation is checked fully (shape, pointer, then the caller-supplied static checks)
before the next one is looked at, in Glance's order, so the first bad operation decides
the status code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from glimpse.api.errors import UnsupportedMediaType
from glimpse.errors import InvalidInput
from glimpse.images.patch import PatchOp

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"
ACCEPT_PATCH = f"{V20}, {V21}"
OPERATIONS = ("add", "remove", "replace")

# how many pointer segments each path takes; everything else takes exactly one
_DEPTH = {"locations": {"add": 2, "remove": 2, "replace": 1}}
_ADJACENT = re.compile(r"/\s*?/")
_BAD_TILDE = re.compile(r"~[^01]")


def media_type(content_type: str | None) -> str:
    """Which patch dialect the request speaks; 415 for anything else (compared exactly,
    as Glance does)."""
    kind = (content_type or "").split(";")[0].strip()
    if kind not in (V20, V21):
        raise UnsupportedMediaType(
            f"The request media type {kind} is not supported by this server. "
            f"Image PATCH expects Content-Type one of: {ACCEPT_PATCH}",
            headers={"Accept-Patch": ACCEPT_PATCH},
        )
    return kind


def _segments(pointer: Any) -> list[str]:
    """Glance's limited JSON pointer: segments are unescaped and stripped of spaces."""
    if not isinstance(pointer, str):
        raise InvalidInput(f"Invalid JSON pointer for this resource: '{pointer}'")
    if not pointer.startswith("/"):
        raise InvalidInput(f'Pointer `{pointer}` does not start with "/".')
    if _ADJACENT.search(pointer[1:]):
        raise InvalidInput(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise InvalidInput(f'Pointer `{pointer}` end with "/".')
    if _BAD_TILDE.search(pointer) or pointer.endswith("~"):
        raise InvalidInput(
            f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.'
        )
    return [
        part.replace("~1", "/").replace("~0", "~").strip()
        for part in pointer.lstrip("/").split("/")
    ]


def _operation(raw: dict[str, Any], dialect: str) -> tuple[str, Any]:
    if dialect == V21:
        op = raw.get("op")
        if op is None:
            raise InvalidInput(
                "Unable to find `op` in JSON Schema change. It must be one of the "
                "following: add, remove, replace."
            )
        if op not in OPERATIONS:
            raise InvalidInput(
                f"Invalid operation: `{op}`. It must be one of the following: add, remove, replace."
            )
        if "path" not in raw:
            raise InvalidInput("Unable to find 'path' in JSON Schema change")
        return op, raw["path"]
    present = [name for name in OPERATIONS if name in raw]
    if len(present) > 1:
        raise InvalidInput(
            'Operation objects must contain only one member named "add", "remove", or "replace".'
        )
    if not present:
        raise InvalidInput(
            'Operation objects must contain exactly one member named "add", "remove", or "replace".'
        )
    return present[0], raw[present[0]]


def parse_patch(
    body: Any, dialect: str, check: Callable[[PatchOp], None] = lambda op: None
) -> list[PatchOp]:
    """The operations of a PATCH body; ``check`` gets each one as soon as it is parsed."""
    if not isinstance(body, list):
        raise InvalidInput("Request body must be a JSON array of operation objects.")
    ops = []
    for raw in body:
        if not isinstance(raw, dict):
            raise InvalidInput("Operations must be JSON objects.")
        op, pointer = _operation(raw, dialect)
        segments = _segments(pointer)
        if len(segments) != _DEPTH.get(segments[0], {}).get(op, 1):
            raise InvalidInput(f"Invalid JSON pointer for this resource: '/{'/'.join(segments)}'")
        if op != "remove" and "value" not in raw:
            raise InvalidInput(f'Operation "{op}" requires a member named "value".')
        parsed = PatchOp(
            op=op,
            name=segments[0],
            value=raw.get("value"),
            strict_add=dialect == V20,
            position=segments[1] if len(segments) > 1 else None,
        )
        check(parsed)
        ops.append(parsed)
    return ops
