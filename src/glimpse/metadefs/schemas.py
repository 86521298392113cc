"""The ten ``/v2/schemas/metadefs/*`` documents, and request bodies checked against the
same documents (as Glance checks them)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import orjson
from jsonschema import Draft4Validator

from glimpse.errors import InvalidInput

NAMES = (
    "namespace", "namespaces", "object", "objects", "property", "properties",
    "tag", "tags", "resource_type", "resource_types",
)  # fmt: skip


@cache
def document(name: str) -> dict[str, Any]:
    raw = files("glimpse.schemas").joinpath("metadefs", f"{name}.json").read_bytes()
    found: dict[str, Any] = orjson.loads(raw)
    return found


@cache
def _validator(name: str) -> Draft4Validator:
    return Draft4Validator(document(name))


def check(name: str, body: Any) -> dict[str, Any]:
    """``body`` if it is a valid ``name`` document, else Glance's 400."""
    if not isinstance(body, dict):
        raise InvalidInput(f"Provided object does not match schema '{name}': not an object")
    error = next(iter(_validator(name).iter_errors(body)), None)
    if error is not None:
        schema_name = document(name).get("name", name)
        raise InvalidInput(
            f"Provided object does not match schema '{schema_name}': {error.message}"
        )
    return body
