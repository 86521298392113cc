"""Disk-format inspection of uploaded data (oslo.utils' format inspector).

Fed every block of an upload whose container is ``bare``; at the end it says whether
the data is what ``disk_format`` claims and safe to boot, and what its virtual size is.
"""

from __future__ import annotations

import logging

from oslo_utils.imageutils import format_inspector

from glimpse.errors import DataFormatMismatch

log = logging.getLogger(__name__)

# disk formats the inspector cannot recognise: raw-looking content is fine for them
UNINSPECTABLE = frozenset({"ami", "ari", "aki", "ploop"})


HEAD_BYTES = 1 << 20
HEAD_PIECE = 64 << 10


class _Feed:
    """The "stream" the inspect wrapper pulls from: the block we hand it."""

    def __init__(self) -> None:
        self.block: bytes | memoryview = b""

    def __next__(self) -> bytes | memoryview:
        return self.block


class FormatCheck:
    def __init__(self, disk_format: str, *, require_match: bool) -> None:
        self.disk_format = disk_format
        self.require_match = require_match
        self._feed = _Feed()
        self._wrapper = format_inspector.InspectWrapper(self._feed)  # type: ignore[arg-type]
        self._fed = 0

    def eat(self, block: bytes | memoryview) -> None:
        # The inspectors' header regions lie in the first few hundred KiB, and each one
        # copies the rest of the piece it starts in before trimming it: feed that part
        # in small pieces so that no region copies a whole multi-MiB block.
        if self._fed < HEAD_BYTES:
            head = min(len(block), HEAD_BYTES - self._fed)
            for start in range(0, head, HEAD_PIECE):
                self._eat(block[start : min(start + HEAD_PIECE, head)])
            block = block[head:]
        if block:
            self._eat(block)

    def _eat(self, piece: bytes | memoryview) -> None:
        self._fed += len(piece)
        self._feed.block = piece
        next(self._wrapper)

    def verdict(self, size: int) -> int | None:
        """The image's virtual size (None if unknown); 415 if the data is refused."""
        self._wrapper.close()
        try:
            detected = self._wrapper.formats or []
        except format_inspector.ImageFormatError as exc:
            raise DataFormatMismatch(f"Image data is not a supported format: {exc}") from exc
        names = sorted(str(found) for found in detected)
        if names == ["gpt", "iso"]:  # a bootable ISO carries a GPT too
            detected = [found for found in detected if str(found) == "iso"]
        elif len(detected) > 1:
            raise DataFormatMismatch(f"Image data matches several formats: {', '.join(names)}")
        found = detected[0]
        name = str(found)
        if name == "raw" and self.disk_format in UNINSPECTABLE:
            return None
        if name != self.disk_format:
            if self.disk_format == "raw":
                log.warning("image declared raw contains %s data; accepted as raw", name)
                return size
            if self.require_match:
                raise DataFormatMismatch(
                    f"Image disk_format is {self.disk_format} but the data is {name}"
                )
            return None
        try:
            found.safety_check()
        except (format_inspector.SafetyCheckFailed, format_inspector.ImageFormatError) as exc:
            raise DataFormatMismatch(f"Image data failed safety checks: {exc}") from exc
        return int(found.virtual_size)


def inspect_file(path: str) -> str:
    """The format of the image file at ``path`` (a GPT disk counts as raw), once its
    safety checks pass; 415 otherwise. Reads only as far as the inspectors need."""
    try:
        found = format_inspector.detect_file_format(path)
        # never None: the raw inspector matches anything the others do not
        assert found is not None
        found.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        raise DataFormatMismatch(f"Image data failed safety checks: {exc}") from exc
    except format_inspector.ImageFormatError as exc:
        raise DataFormatMismatch(f"Image data is not a supported format: {exc}") from exc
    name = str(found)
    return "raw" if name == "gpt" else name
