"""The ``image_decompression`` import plugin: compressed image data is unpacked.

Recognised by its magic number as Glance does (gzip, zip; LHA is recognised and
refused, as Glance does without its optional module), and also bzip2 and xz, all with
Python's own modules. A zip archive must hold exactly one file. The output is counted
as it is written and refused past the limit, so a small archive cannot fill the disk.
Images whose container_format is ``compressed`` are meant to stay compressed.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

from glimpse.concurrency import run_blocking
from glimpse.tasks.model import JobFailed

_COPY_SIZE = 1 << 20

# (offset, magic number) of each format; bzip2's includes its first block's magic
MAGIC: dict[str, tuple[int, bytes]] = {
    "gzip": (0, b"\x1f\x8b\x08"),
    "zip": (0, b"PK\x03\x04"),
    "lha": (2, b"-lh"),
    "xz": (0, b"\xfd7zXZ\x00"),
    "bzip2": (0, b"BZh"),
}
_BZIP2_BLOCK = b"\x31\x41\x59\x26\x53\x59"
HEADER_BYTES = 10


class _TooLarge(Exception):
    pass


# what the modules raise on data they cannot unpack (encrypted zip members: RuntimeError,
# unknown zip methods: NotImplementedError)
_CORRUPT = (
    OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, RuntimeError,
    NotImplementedError,
)  # fmt: skip


def detect(head: bytes) -> str | None:
    """The compression ``head`` (the file's first bytes) announces, if any."""
    for name, (offset, magic) in MAGIC.items():
        if head.startswith(magic, offset):
            if name == "bzip2" and not (head[3:4].isdigit() and head[4:10] == _BZIP2_BLOCK):
                continue
            return name
    return None


def _copy(source: IO[bytes] | io.BufferedIOBase, dest: Path, limit: int) -> None:
    written = 0
    with open(dest, "wb") as out:
        while chunk := source.read(_COPY_SIZE):
            written += len(chunk)
            if written > limit:
                raise _TooLarge
            out.write(chunk)


def _unzip(src: Path, dest: Path, limit: int) -> None:
    with zipfile.ZipFile(src) as archive:
        members = archive.infolist()
        if len(members) != 1:
            raise JobFailed(f"Image decompression failed: the zip archive holds {len(members)} "
                            "files, not one")  # fmt: skip
        if members[0].file_size > limit:
            raise _TooLarge
        with archive.open(members[0]) as member:
            _copy(member, dest, limit)


_STREAMS: dict[str, Callable[[Path], io.BufferedIOBase]] = {
    "gzip": gzip.GzipFile,
    "bzip2": bz2.BZ2File,
    "xz": lzma.LZMAFile,
}


def _decompress(kind: str, src: Path, dest: Path, limit: int) -> None:
    if kind == "zip":
        _unzip(src, dest, limit)
        return
    with _STREAMS[kind](src) as source:
        _copy(source, dest, limit)


async def decompress(src: Path, container_format: str | None, limit: int) -> Path:
    """The decompressed data beside ``src`` (which is removed), or ``src`` itself when
    it is not compressed; the output may hold at most ``limit`` bytes."""
    if container_format == "compressed":
        return src
    with open(src, "rb") as head:
        kind = detect(head.read(HEADER_BYTES))
    if kind is None:
        return src
    if kind == "lha":
        raise JobFailed("Image decompression failed: LHA archives are not supported")
    dest = src.with_name(src.name + ".uncompressed")
    try:
        await run_blocking(_decompress, kind, src, dest, limit)
    except _TooLarge:
        raise JobFailed(
            f"Image decompression failed: the {kind} data unpacks to more than {limit} bytes "
            "(the image size cap or the import work space)"
        ) from None
    except _CORRUPT as exc:
        raise JobFailed(f"Image decompression failed: unreadable {kind} data: {exc}") from None
    os.replace(dest, src)
    return src
