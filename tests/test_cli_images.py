"""``glimpse verify`` and ``glimpse image restore`` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def glimpse(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glimpse", *args],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(data), **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_verify_reports_in_text_and_finds_a_stray_object(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clean = glimpse(data, "verify")
    assert clean.returncode == 0, clean.stderr
    assert "checked 0 images" in clean.stdout
    stray = data / "images" / "not-an-image"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left behind")
    found = glimpse(data, "verify", "--grace", "0")
    assert found.returncode == 3, found.stderr
    assert "orphan" in found.stdout and "1 orphans" in found.stdout


def test_restoring_an_unknown_image_is_one_line(tmp_path: Path) -> None:
    done = glimpse(tmp_path / "data", "image", "restore", "00000000-0000-0000-0000-000000000000")
    assert done.returncode == 1
    assert done.stderr.startswith("glimpse: ") and len(done.stderr.strip().splitlines()) == 1
