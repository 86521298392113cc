"""Small disk images built byte by byte, for format-inspection tests."""

from __future__ import annotations

import struct

QCOW2_MAGIC = b"QFI\xfb"


def qcow2(virtual_size: int, *, backing_file: bool = False, version: int = 3) -> bytes:
    """A qcow2 header (512 bytes) followed by some clusters of zeroes."""
    header = bytearray(512)
    backing_offset = 256 if backing_file else 0
    struct.pack_into(
        ">4sIQIIQ", header, 0, QCOW2_MAGIC, version, backing_offset, 0, 16, virtual_size
    )
    if backing_file:
        header[256:266] = b"/etc/hosts"
    return bytes(header) + bytes(3 * 65536)
