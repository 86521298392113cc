"""Helpers shared by the end-to-end tests: random payloads with their expected hashes, and
images seeded straight over HTTP for the list tests (so each list test spends its time on
the client under test, not on setting up)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

MiB = 1 << 20
SMALL = 3 * MiB
# Large enough to exercise streaming both ways (many network chunks and store blocks).
BIG = 64 * MiB


@dataclass(frozen=True)
class Payload:
    """Random image bytes and the hashes Glance reports for them (md5 and sha512)."""

    data: bytes
    md5: str = field(init=False)
    sha512: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "md5", hashlib.md5(self.data, usedforsecurity=False).hexdigest())
        object.__setattr__(self, "sha512", hashlib.sha512(self.data).hexdigest())

    @classmethod
    def random(cls, size: int) -> Payload:
        return cls(os.urandom(size))

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self, chunk_size: int = MiB) -> Iterator[bytes]:
        """The data as a generator: no length, so HTTP clients must send it chunked."""
        view = memoryview(self.data)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])


class ChunkReader:
    """A file-like object with ``read`` only (no ``len``, ``seek`` or ``fileno``), so a
    client cannot learn the size up front and has to stream the body."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._current = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            rest = self._current.tobytes() + b"".join(self._chunks)
            self._current = memoryview(b"")
            return rest
        if not self._current:
            self._current = memoryview(next(self._chunks, b""))
        # A short read is allowed for a stream; b"" only at the end.
        out = self._current[:size].tobytes()
        self._current = self._current[size:]
        return out


def assert_stored(image: Mapping[str, Any], payload: Payload) -> None:
    """The image record describes exactly these bytes."""
    assert image["status"] == "active"
    assert image["size"] == payload.size
    assert image["checksum"] == payload.md5
    assert image["os_hash_algo"] == "sha512"
    assert image["os_hash_value"] == payload.sha512


def assert_same_bytes(chunks: Iterable[bytes], payload: Payload) -> None:
    """The downloaded stream is the payload (hashed as it comes, so 64 MiB is not joined)."""
    sha512 = hashlib.sha512()
    size = 0
    for chunk in chunks:
        sha512.update(chunk)
        size += len(chunk)
    assert size == payload.size
    assert sha512.hexdigest() == payload.sha512


# What the list tests seed: name → (os_distro, tags, uploaded?). Each filter used by the
# tests selects a different subset, so a filter that is ignored makes the test fail.
LIST_SEED: dict[str, tuple[str, list[str], bool]] = {
    "alpha": ("ubuntu", ["gold"], True),
    "beta": ("fedora", ["gold"], False),
    "gamma": ("ubuntu", [], True),
}


def create_image(live: httpx.Client, name: str, data: bytes | None = None, **attrs: Any) -> str:
    """Create a raw image over plain HTTP (and upload ``data``, if given); return its id."""
    body = {"name": name, "disk_format": "raw", "container_format": "bare", **attrs}
    created = live.post("/v2/images", json=body)
    assert created.status_code == 201, created.text
    image_id: str = created.json()["id"]
    if data is not None:
        put = live.put(
            f"/v2/images/{image_id}/file",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert put.status_code == 204, put.text
    return image_id


def seed_list_images(live: httpx.Client) -> dict[str, str]:
    """Create the ``LIST_SEED`` images; return name → id."""
    return {
        name: create_image(
            live, name, os.urandom(4096) if uploaded else None, os_distro=distro, tags=tags
        )
        for name, (distro, tags, uploaded) in LIST_SEED.items()
    }


def get_image(live: httpx.Client, image_id: str) -> dict[str, Any]:
    """The image as the API shows it (to check what a client did, independently of it)."""
    response = live.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image
