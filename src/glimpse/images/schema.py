"""The JSON schemas: published at ``/v2/schemas/*`` and used to validate requests.

``schemas/image.json``, ``member.json`` and ``task.json`` are the one source; the list
schemas are built from them the way Glance builds its own.
"""

from __future__ import annotations

import copy
import json
from functools import cached_property
from importlib import resources
from typing import Any

import jsonschema
from jsonschema import Draft4Validator

from glimpse.errors import InvalidInput


def _load(name: str) -> dict[str, Any]:
    text = resources.files("glimpse.schemas").joinpath(f"{name}.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _collection(name: str, item_key: str, item: dict[str, Any], paged: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {item_key: {"type": "array", "items": item}}
    links = []
    if paged:
        properties["first"] = {"type": "string"}
        properties["next"] = {"type": "string"}
        links = [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"}]
    properties["schema"] = {"type": "string"}
    links.append({"rel": "describedby", "href": "{schema}"})
    return {"name": name, "properties": properties, "links": links}


class Schemas:
    def __init__(
        self, *, disk_formats: list[str] | None = None, container_formats: list[str] | None = None
    ) -> None:
        self.image = _load("image")
        props = self.image["properties"]
        if disk_formats is not None:
            props["disk_format"]["enum"] = [None, *disk_formats]
        if container_formats is not None:
            props["container_format"]["enum"] = [None, *container_formats]
        self.member = _load("member")
        self.task = _load("task")
        self.images = _collection("images", "images", self.image, paged=True)
        self.members = _collection("members", "members", self.member, paged=False)
        task_stub = copy.deepcopy(self.task)
        for key in ("input", "result", "message"):
            task_stub["properties"].pop(key, None)
        self.tasks = _collection("tasks", "tasks", task_stub, paged=False)
        # rendered once: these are served unchanged on every request
        self.rendered: dict[str, bytes] = {
            name: json.dumps(getattr(self, name)).encode()
            for name in ("image", "images", "member", "members", "task", "tasks")
        }

    @cached_property
    def _image_validator(self) -> Draft4Validator:
        return Draft4Validator(self.image)

    def validate_image(self, document: dict[str, Any]) -> None:
        """400 unless ``document`` is a valid (partial) image."""
        error = jsonschema.exceptions.best_match(self._image_validator.iter_errors(document))
        if error is not None:
            raise InvalidInput(f"Provided object does not match schema 'image': {error.message}")

    def validate_image_attribute(self, name: str, value: Any) -> None:
        self.validate_image({name: value})
