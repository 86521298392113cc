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


def one_line_refusal(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 2 and one line on stderr that says what is wrong; no traceback."""
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("glimpse: cannot start: ")
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GLIMPSE_PORT": "0"}, "port must be at least 1, not 0"),
        ({"GLIMPSE_PORT": "70000"}, "port must be at most 65535"),
        ({"GLIMPSE_WORKERS": "0"}, "workers must be at least 1"),
        ({"GLIMPSE_TASK_LEASE_SECONDS": "-1"}, "task_lease_seconds"),
        ({"GLIMPSE_UPLOAD_BUFFER_SIZE": "1"}, "upload_buffer_size"),
        ({"GLIMPSE_LOG_LEVEL": "loud"}, "log_level must be one of"),
        ({"GLIMPSE_PORT": "many"}, "port"),
    ],
)
def test_settings_out_of_range_are_refused_in_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    port = env.pop("GLIMPSE_PORT", "9")  # the command line's --port wins over GLIMPSE_PORT
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "serve", "--port", port],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if port == "many":
        assert done.returncode == 2 and "invalid int value" in done.stderr  # argparse's
        return
    one_line_refusal(done, expected)
    assert not (tmp_path / "data").exists()  # nothing written


def test_bad_toml_is_named_with_its_line(tmp_path: Path) -> None:
    config = tmp_path / "glimpse.toml"
    config.write_text('port = 9292\nhost = "127.0.0.1\n')
    one_line_refusal(serve(tmp_path, GLIMPSE_CONFIG=str(config)), str(config), "line 2")


def test_missing_config_file_after_the_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "serve", "--config", str(tmp_path / "nope.toml")],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    one_line_refusal(done, "nope.toml", "not a file")


def test_unusable_data_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = serve(tmp_path, GLIMPSE_DATA_DIR=str(blocker / "data"))
    one_line_refusal(done, str(blocker / "data"))


def test_port_in_use_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "glimpse", "serve", "--port", str(port)],
            env={**os.environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data"),
                 "GLIMPSE_AUTH_MODE": "builtin"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    one_line_refusal(done, f"127.0.0.1:{port}")
    written = [p.name for p in (tmp_path / "data").iterdir()]
    assert written == [], written  # no admin, keys or clouds.yaml for a server that never ran


def test_serve_help_describes_every_option() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "serve", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    for option in ("--config", "--host", "--port", "--workers", "--data-dir", "--access-log"):
        assert option in done.stdout
    assert done.stdout.count("default:") >= 5


def test_clouds_yaml_follows_the_endpoint(tmp_path: Path) -> None:
    from tests.support.server import ServerProcess

    data = tmp_path / "data"
    data.mkdir()
    urls = []
    for _ in range(2):  # a new free port each time
        server = ServerProcess(data, env={"GLIMPSE_AUTH_MODE": "builtin"})
        server.start()
        server.stop()
        assert f"auth_url: {server.url}/identity/v3\n" in (data / "clouds.yaml").read_text()
        urls.append(server.url)
    assert urls[0] != urls[1]
    printed = subprocess.run(
        [sys.executable, "-m", "glimpse", "clouds-yaml"],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(data), "GLIMPSE_PORT": "9555"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "auth_url: http://127.0.0.1:9555/identity/v3" in printed.stdout
    password = (data / "admin-password").read_text().strip()
    assert f'password: "{password}"' in printed.stdout


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_conversion_without_qemu_img_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", command],
        env={
            **os.environ,
            "GLIMPSE_DATA_DIR": str(tmp_path / "data"),
            "GLIMPSE_PORT": "9",
            "GLIMPSE_IMAGE_IMPORT_PLUGINS": '["image_conversion"]',
            "PATH": str(tmp_path),  # none of the tools
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    one_line_refusal(done, "image_conversion but qemu-img, prlimit, setpriv cannot be found")
