"""PATCH bodies in both media types Glance accepts, parsed into :class:`PatchOp`.

``application/openstack-images-v2.1-json-patch``: RFC 6902 objects (``op``/``path``/
``value``), only add/remove/replace. ``…-v2.0-json-patch`` (the legacy draft, still used
by Tempest): ``{"add"|"remove"|"replace": path, "value": …}``.
"""

from __future__ import annotations

import re
from typing import Any

from glimpse.errors import BadRequest, UnsupportedMediaType
from glimpse.images.patch import PatchOp

V21 = "application/openstack-images-v2.1-json-patch"
V20 = "application/openstack-images-v2.0-json-patch"
ACCEPT_PATCH = f"{V20}, {V21}"
OPERATIONS = ("add", "remove", "replace")

_POINTER = re.compile(r"^(/([^/~]|~[01])+)+$")


def media_type(content_type: str | None) -> str:
    """Which patch dialect the request speaks; 415 for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind not in (V20, V21):
        raise UnsupportedMediaType(
            f"The request media type {kind or 'None'} is not supported by this server. "
            f"Image PATCH expects Content-Type one of: {ACCEPT_PATCH}",
            headers={"Accept-Patch": ACCEPT_PATCH},
        )
    return kind


def _segments(path: Any) -> list[str]:
    if not isinstance(path, str) or not _POINTER.match(path):
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _name(op: str, path: Any) -> str:
    segments = _segments(path)
    if segments[0] == "locations":
        tail = segments[1:]
        valid = (
            (op == "replace" and not tail)
            or (op == "add" and len(tail) == 1 and (tail[0] == "-" or tail[0].isdigit()))
            or (op == "remove" and len(tail) == 1 and tail[0].isdigit())
        )
        if not valid:
            raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
        return "locations"
    if len(segments) != 1:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return segments[0]


def parse_patch(body: Any, dialect: str) -> list[PatchOp]:
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    ops = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        if dialect == V21:
            op = raw.get("op")
            if op not in OPERATIONS:
                raise BadRequest(
                    f"Invalid operation: `{op}`. It must be one of the following: "
                    "add, remove, replace."
                )
            if "path" not in raw:
                raise BadRequest("Unable to find `path` in JSON Schema change.")
            path = raw["path"]
        else:
            present = [name for name in OPERATIONS if name in raw]
            if len(present) != 1:
                raise BadRequest(
                    "Operation objects must contain exactly one member named "
                    '"add", "remove", or "replace".'
                )
            op = present[0]
            path = raw[op]
        if op != "remove" and "value" not in raw:
            raise BadRequest(f'Operation "{op}" requires a member named "value".')
        ops.append(
            PatchOp(op=op, name=_name(op, path), value=raw.get("value"), strict_add=dialect == V20)
        )
    return ops
