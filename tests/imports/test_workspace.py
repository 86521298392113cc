"""The import plugins' local work space: per-import directories, locked while in use,
and the ones a dead worker left behind removed by the next import on the node."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from glimpse.config import ConfigurationError, Settings
from glimpse.imports.plugins import ImportPlugins
from glimpse.imports.workspace import Workspace, read_file
from glimpse.tasks.model import JobFailed


def aged(path: Path, seconds: float = 3600) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_directories_nobody_holds_are_swept(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    dead = root / "import-dead"
    dead.mkdir()
    (dead / "staged").write_bytes(b"left behind")
    held = root / "import-held"
    held.mkdir()
    stale = root / ".new-stale"
    stale.mkdir()
    aged(stale)
    fresh = root / ".new-fresh"  # another process is about to lock it
    fresh.mkdir()
    (root / "stray-file").write_bytes(b"")
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live import in another process
    try:
        async with Workspace(root, 1 << 20) as space:
            assert space.path.parent == root and space.path.is_dir()
            assert space.path.name.startswith("import-")
            left = {p.name for p in root.iterdir()}
            assert left == {"import-held", ".new-fresh", "stray-file", space.path.name}
            # another import on the node leaves this one's directory alone
            async with Workspace(root, 1 << 20) as other:
                assert space.path.is_dir()
                assert other.path != space.path
        assert not space.path.exists() and not other.path.exists()
    finally:
        os.close(fd)


async def test_fetch_keeps_to_its_limit_and_read_gives_it_back(tmp_path: Path) -> None:
    async with Workspace(tmp_path, 10_000) as space:
        path = await space.fetch(chunks(b"a" * 3000, b"b" * 3000), "data", limit=6000)
        assert space.room(path) == 4000
        assert b"".join([c async for c in read_file(path)]) == b"a" * 3000 + b"b" * 3000
        with pytest.raises(JobFailed, match="exceeds the import work space or size cap"):
            await space.fetch(chunks(b"a" * 3000, b"b" * 3001), "more", limit=6000)
    assert list(tmp_path.iterdir()) == []


def test_conversion_needs_qemu_img_and_prlimit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = Settings(data_dir=tmp_path, image_import_plugins=["image_conversion"])
    with pytest.raises(ConfigurationError, match="qemu-img, prlimit, setpriv cannot be found"):
        ImportPlugins(settings)
    ImportPlugins(Settings(data_dir=tmp_path, image_import_plugins=["image_decompression"]))


async def test_a_cancelled_job_leaves_no_directory(tmp_path: Path) -> None:
    """A job cancelled inside its work space (its lease lost, the worker stopping)."""
    inside = asyncio.Event()

    async def job() -> None:
        async with Workspace(tmp_path, 1 << 20) as space:
            (space.path / "staged").write_bytes(b"x" * 1000)
            inside.set()
            await asyncio.sleep(3600)

    running = asyncio.create_task(job())
    await inside.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert list(tmp_path.iterdir()) == []
