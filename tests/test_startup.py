"""``glimpse serve`` refuses to start on settings that cannot work, and says why."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glimpse", "serve", "--port", "9"],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "text",
    [
        'get_image: "role:reader and (\n',  # YAML that does not parse
        "get_image: [unclosed\n",
        '"get_image": "role:reader and and"\n',  # a check string that does not parse
    ],
)
def test_broken_policy_file_stops_start_up(tmp_path: Path, text: str) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(text)
    done = serve(tmp_path, GLIMPSE_POLICY_FILE=str(policy))
    assert done.returncode == 2
    assert "cannot start" in done.stderr
    assert str(policy) in done.stderr


def test_missing_policy_file_stops_start_up(tmp_path: Path) -> None:
    done = serve(tmp_path, GLIMPSE_POLICY_FILE=str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_keystone_mode_needs_its_settings(tmp_path: Path) -> None:
    done = serve(tmp_path, GLIMPSE_AUTH_MODE="keystone")
    assert done.returncode == 2
    assert "keystone_auth_url" in done.stderr


def test_unknown_auth_mode_is_refused(tmp_path: Path) -> None:
    done = serve(tmp_path, GLIMPSE_AUTH_MODE="ldap")
    assert done.returncode == 2
    assert "auth_mode" in done.stderr


def test_malformed_property_protection_file_stops_start_up(tmp_path: Path) -> None:
    protections = tmp_path / "protections.conf"
    protections.write_text("[^x_.*]\ncreate = admin\nread = @\n")
    done = serve(tmp_path, GLIMPSE_PROPERTY_PROTECTION_FILE=str(protections))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"glimpse: cannot start: property_protection_file {protections}: "
        "[^x_.*] has no 'update' entry"
    )


def test_secrets_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """A first start under umask 000 in a world-writable directory: the data directory
    becomes 0700; the database and its WAL/SHM files, the token keys, the admin password
    and clouds.yaml are 0600."""
    import httpx

    from tests.support.server import ServerProcess

    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    old = os.umask(0)
    try:
        server = ServerProcess(data, env={"GLIMPSE_AUTH_MODE": "builtin"})
        server.start()
    finally:
        os.umask(old)
    try:
        assert httpx.get(f"{server.url}/v2/images").status_code == 401  # the database in use
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in data.rglob("*")
            if p.is_file() and p.name != "server.log"
        }
    finally:
        server.stop()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert {"glimpse.db", "glimpse.db-wal", "clouds.yaml", "admin-password"} <= set(modes), modes
    assert {name: mode for name, mode in modes.items() if mode & 0o077} == {}
