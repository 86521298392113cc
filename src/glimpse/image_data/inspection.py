"""Disk-format inspection of uploaded data (oslo.utils' format inspector).

Fed every block of an upload whose container is ``bare``; at the end it says whether
the data is what ``disk_format`` claims and safe to boot, and what its virtual size is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True)
class Findings:
    """What the inspectors made of some data, whatever format it claims to be: enough to
    judge it later against any ``disk_format`` (kept with staged data, which cannot
    change, so that an import need not read it again)."""

    formats: tuple[str, ...] = ()  # what it looks like (one, unless ambiguous)
    refused: str | None = None  # the inspectors' own error (a corrupt header)
    unsafe: str | None = None  # the one format's failed safety check
    virtual_size: int | None = None  # the one format's, if safe

    def as_dict(self) -> dict[str, Any]:
        return {
            "formats": list(self.formats),
            "refused": self.refused,
            "unsafe": self.unsafe,
            "virtual_size": self.virtual_size,
        }

    @classmethod
    def from_dict(cls, found: dict[str, Any]) -> Findings:
        return cls(
            tuple(found["formats"]), found["refused"], found["unsafe"], found["virtual_size"]
        )

    def verdict(self, disk_format: str, *, require_match: bool, size: int) -> int | None:
        """The image's virtual size (None if unknown); 415 if data declared
        ``disk_format`` is refused."""
        if self.refused is not None:
            raise DataFormatMismatch(f"Image data is not a supported format: {self.refused}")
        if len(self.formats) > 1:
            names = ", ".join(sorted(self.formats))
            raise DataFormatMismatch(f"Image data matches several formats: {names}")
        (name,) = self.formats
        if name == "raw" and disk_format in UNINSPECTABLE:
            return None
        if name != disk_format:
            if disk_format == "raw":
                log.warning("image declared raw contains %s data; accepted as raw", name)
                return size
            if require_match:
                raise DataFormatMismatch(
                    f"Image disk_format is {disk_format} but the data is {name}"
                )
            return None
        if self.unsafe is not None:
            raise DataFormatMismatch(f"Image data failed safety checks: {self.unsafe}")
        return self.virtual_size


class FormatCheck:
    """Fed every block of some data; then its findings, and the verdict on them for
    ``disk_format`` (None: findings only, for data whose format is not known yet)."""

    def __init__(self, disk_format: str | None, *, require_match: bool) -> None:
        self.disk_format = disk_format
        self.require_match = require_match
        self._feed = _Feed()
        self._wrapper = format_inspector.InspectWrapper(self._feed)  # type: ignore[arg-type]
        self._fed = 0
        self.findings: Findings | None = None

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

    def _find(self) -> Findings:
        self._wrapper.close()
        try:
            detected = self._wrapper.formats or []
        except format_inspector.ImageFormatError as exc:
            return Findings(refused=str(exc))
        names = sorted(str(found) for found in detected)
        if names == ["gpt", "iso"]:  # a bootable ISO carries a GPT too
            detected = [found for found in detected if str(found) == "iso"]
        elif len(detected) > 1:
            return Findings(formats=tuple(names))
        found = detected[0]
        try:
            found.safety_check()
        except (format_inspector.SafetyCheckFailed, format_inspector.ImageFormatError) as exc:
            return Findings(formats=(str(found),), unsafe=str(exc))
        return Findings(formats=(str(found),), virtual_size=int(found.virtual_size))

    def verdict(self, size: int) -> int | None:
        """The image's virtual size (None if unknown); 415 if the data is refused."""
        self.findings = self._find()
        if self.disk_format is None:
            return None
        return self.findings.verdict(self.disk_format, require_match=self.require_match, size=size)


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
