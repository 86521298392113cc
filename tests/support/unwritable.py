"""A directory made really unwritable for a while, to make a store fail for real."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def unwritable(directory: Path) -> Iterator[Path]:
    """Nobody can create or remove files in ``directory`` inside the block. Root ignores
    modes, so as root the directory gets the immutable attribute (``chattr +i``: a
    failure to set it fails the test) instead of mode 0500."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True, capture_output=True)
        try:
            yield directory
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True, capture_output=True)
    else:
        mode = directory.stat().st_mode & 0o777
        directory.chmod(0o500)
        try:
            yield directory
        finally:
            directory.chmod(mode)
