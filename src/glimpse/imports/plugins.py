"""Glance's import plugins, run in the configured order between the source of an import
(staged or downloaded) and its stores; never for copy-image.

The data plugins (``image_decompression``, ``image_conversion``) work on a local copy of
the staged data in a workspace (``workspace.py``); the staged data itself is left as it
is, so a job resumed after its worker died starts again from it. What the plugins
change on the image (the format after a conversion, injected properties) is applied in
the unit of work that makes the image ``active``, never before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glimpse.config import Settings
from glimpse.imports.conversion import Conversion, check_tools
from glimpse.imports.decompression import decompress
from glimpse.imports.workspace import Workspace
from glimpse.model.images import Image
from glimpse.tasks.model import PRIVATE_INPUT, Task

_DATA_PLUGINS = frozenset({"image_conversion", "image_decompression"})


@dataclass(slots=True)
class Prepared:
    """What the stores receive: a local file (None: the source as it is), and what
    changes on the image when it becomes active."""

    path: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


class ImportPlugins:
    def __init__(self, settings: Settings) -> None:
        self.names = settings.image_import_plugins
        self.settings = settings
        if "image_conversion" in self.names:
            check_tools()
        self.conversion = Conversion(settings)

    @asynccontextmanager
    async def prepare(
        self, task: Task, image: Image, read: Callable[[], Awaitable[AsyncIterator[bytes]]]
    ) -> AsyncIterator[Prepared]:
        """Run the plugins over the data ``read`` opens; the local files are gone once
        the context ends, whatever happened."""
        prepared = Prepared()
        if "inject_image_metadata" in self.names:
            prepared.properties = self._injected(task)
        if not _DATA_PLUGINS & set(self.names):
            yield prepared
            return
        budget = self.settings.resolved_import_work_dir_size
        cap = self.settings.image_size_cap
        async with Workspace(self.settings.resolved_import_work_dir, budget) as space:
            path = await space.fetch(await read(), "staged", limit=min(budget, cap))
            disk_format = image.disk_format or ""
            for name in self.names:
                if name == "image_decompression":
                    path = await decompress(
                        path, image.container_format, min(space.room(path), cap)
                    )
                elif name == "image_conversion":
                    path, changed = await self.conversion.convert(
                        path, disk_format, space.room(path)
                    )
                    prepared.values.update(changed)
                    disk_format = prepared.values.get("disk_format", disk_format)
            prepared.path = path
            yield prepared

    def _injected(self, task: Task) -> dict[str, str]:
        """Glance's inject_image_metadata: the configured properties, unless who asked
        holds one of the ignored roles; never a reserved ``os_glance`` one."""
        roles = set(task.input.get(PRIVATE_INPUT, {}).get("roles", []))
        if roles & set(self.settings.inject_metadata_ignore_user_roles):
            return {}
        return {
            key: value
            for key, value in self.settings.inject_metadata_properties.items()
            if not key.startswith("os_glance")
        }
