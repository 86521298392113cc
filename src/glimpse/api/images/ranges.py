"""HTTP ``Range`` requests on image data: one range only, as Glance serves them."""

from __future__ import annotations

from dataclasses import dataclass

from glimpse.api.errors import RangeNotSatisfiable
from glimpse.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str, size: int) -> ByteRange:
    """``bytes=a-b``, ``bytes=a-`` or ``bytes=-n``; one range only (several → 400);
    anything unparsable or starting past the end → 416."""
    unit, _, spec = header.strip().partition("=")
    if "," in spec:
        raise InvalidInput("Multiple ranges are not supported.")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip().lower() != "bytes" or not dash:
            raise ValueError
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise ValueError
            start, end = max(size - suffix, 0), size - 1
        else:
            start = int(first)
            end = int(last) if last else size - 1
            if end < start:
                raise ValueError
            end = min(end, size - 1)
    except ValueError:
        raise RangeNotSatisfiable(f"Invalid range {header!r}") from None
    if start >= size or start < 0:
        raise RangeNotSatisfiable(f"Range {header!r} is beyond the image size {size}")
    return ByteRange(start, end)
