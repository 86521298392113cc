"""A local directory an import's data plugins work in, under a size budget.

The staging store need not be a local file system: the plugins work on a local copy.
Each import gets its own directory under the work dir, locked (``flock``) while it is in
use and removed when it ends, whatever the outcome. The kernel drops the lock of a
worker that died; the next import on the node removes the directories nobody holds.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

from glimpse.concurrency import run_blocking
from glimpse.tasks.model import JobFailed

log = logging.getLogger(__name__)

# a directory is made under a temporary name, locked, then renamed: one under its final
# name that nobody holds is a dead import's; one still under its temporary name this
# old is one whose process died in between
_FRESH = ".new-"
_STALE_FRESH_SECONDS = 60.0
READ_SIZE = 1 << 20


def _sweep(root: Path) -> None:
    """Remove the directories of imports whose worker is gone."""
    for entry in root.iterdir():
        try:
            age = time.time() - entry.stat().st_mtime
            if entry.name.startswith(_FRESH) and age < _STALE_FRESH_SECONDS:
                continue
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue  # gone meanwhile, or not a directory
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # in use
        try:
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s, left by an import whose worker stopped", entry)
        finally:
            os.close(fd)


class Workspace:
    def __init__(self, root: Path, budget: int) -> None:
        self.root = root
        self.budget = budget
        self.path = Path()
        self._fd = -1

    async def __aenter__(self) -> Workspace:
        await run_blocking(self._open)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # even when the job is being cancelled: an unclosed directory stays locked
        await asyncio.shield(run_blocking(self._close))

    def _open(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        _sweep(self.root)
        fresh = Path(tempfile.mkdtemp(dir=self.root, prefix=_FRESH))
        self._fd = os.open(fresh, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path = fresh.with_name("import-" + fresh.name.removeprefix(_FRESH))
        fresh.rename(self.path)

    def _close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._fd)

    def room(self, beside: Path) -> int:
        """Bytes a new file may take while ``beside`` is still here."""
        return self.budget - beside.stat().st_size

    async def fetch(self, chunks: AsyncIterator[bytes], name: str, limit: int) -> Path:
        """Write ``chunks`` to a new file of the workspace, at most ``limit`` bytes."""
        path = self.path / name
        done = 0
        with open(path, "wb") as out:
            async for chunk in chunks:
                done += len(chunk)
                if done > limit:
                    raise JobFailed(
                        f"Image data exceeds the import work space or size cap of {limit} bytes"
                    )
                await run_blocking(out.write, chunk)
        return path


async def read_file(path: Path) -> AsyncIterator[bytes]:
    """A local file's bytes, read off the event loop."""
    with open(path, "rb") as source:
        while chunk := await run_blocking(source.read, READ_SIZE):
            yield chunk
