"""A node's cache directory: whole images named by their ids, written under
``incomplete/`` and renamed into place only once checked, so a cached file is always
whole. Blocking calls: the service runs them off the event loop."""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

# image ids are the API's (uuids); anything else never names a file here
_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class CacheWrite:
    """One image being written into the cache, hashed as it goes."""

    def __init__(self, partial: Path, final: Path, algo: str | None) -> None:
        self.fd = -1
        self.partial = partial
        self.final = final
        self.size = 0
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.digest = hashlib.new(algo) if algo else None

    def open(self) -> bool:
        """Create the unfinished file; False while another write of it is under way
        (on this node)."""
        try:
            self.fd = os.open(
                self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
            )
        except FileExistsError:
            return False
        return True

    def add(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            view = view[os.write(self.fd, view) :]
        self.size += len(chunk)
        self.md5.update(chunk)
        if self.digest is not None:
            self.digest.update(chunk)

    def commit(self) -> None:
        os.close(self.fd)
        self.fd = -1
        os.rename(self.partial, self.final)

    def abort(self) -> None:
        """Drop what this write wrote (nothing, if it never opened its file)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.partial.unlink(missing_ok=True)


class CacheFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.incomplete = root / "incomplete"

    def ensure(self) -> None:
        self.incomplete.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, image_id: str) -> Path:
        if not _ID.match(image_id):
            raise ValueError(f"not an image id: {image_id!r}")
        return self.root / image_id

    def size(self, image_id: str) -> int | None:
        try:
            return self.path(image_id).stat().st_size
        except FileNotFoundError:
            return None

    def writer(self, image_id: str, algo: str | None) -> CacheWrite:
        """A write of ``image_id`` (its file is created by :meth:`CacheWrite.open`)."""
        return CacheWrite(self.incomplete / self.path(image_id).name, self.path(image_id), algo)

    def open(self, write: CacheWrite) -> bool:
        self.ensure()
        return write.open()

    def remove(self, image_id: str) -> None:
        self.path(image_id).unlink(missing_ok=True)

    def image_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [entry.name for entry in os.scandir(self.root) if entry.is_file()]

    def remove_stalled(self, older_than_seconds: float) -> int:
        """Remove unfinished writes older than that (their writer died); how many."""
        if not self.incomplete.is_dir():
            return 0
        limit = time.time() - older_than_seconds
        removed = 0
        for entry in os.scandir(self.incomplete):
            if entry.is_file() and entry.stat().st_mtime < limit:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed
