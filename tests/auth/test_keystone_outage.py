"""Keystone mode when Keystone is slow, gone or never there: fail closed (503), except for
tokens already validated, which the cache serves (as keystonemiddleware's cache does).

The Keystone here is a second uWSGI instance of the test Keystone (same database and
keys), started and stopped by these tests; its uWSGI log counts the validations it
served."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.keystone import Keystone, KeystoneInstance
from tests.support.server import ServerProcess, free_port

IMAGE = {"disk_format": "raw", "container_format": "bare"}


class Outage:
    """A Keystone instance and a glimpse server that validates tokens with it only."""

    def __init__(self, keystone: Keystone, tmp: Path) -> None:
        self.keystone = KeystoneInstance(keystone.run_dir, tmp / "keystone-uwsgi.log")
        env = keystone.server_env(GLIMPSE_KEYSTONE_AUTH_URL=self.keystone.url)
        self.glimpse = ServerProcess(tmp, env=env)

    def get(self, token: str | None, path: str = "/v2/images") -> httpx.Response:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["X-Auth-Token"] = token
        return httpx.get(self.glimpse.url + path, headers=headers, timeout=30)

    def post(self, token: str, name: str) -> httpx.Response:
        return httpx.post(
            self.glimpse.url + "/v2/images",
            json={"name": name, **IMAGE},
            headers={"X-Auth-Token": token, "Accept": "application/json"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def outage(keystone: Keystone, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    made = Outage(keystone, tmp_path_factory.mktemp("outage"))
    try:
        made.glimpse.start()
        yield made
    finally:
        made.glimpse.stop()
        made.keystone.stop()


def test_token_cache_spares_keystone(keystone: Keystone, outage: Outage) -> None:
    token = keystone.new_token("alpha-member")
    before = outage.keystone.validations()
    assert outage.get(token).status_code == 200
    assert outage.keystone.validations(at_least=before + 1) == before + 1
    for _ in range(5):
        assert outage.get(token).status_code == 200
    assert outage.keystone.validations() == before + 1
    other = keystone.new_token("alpha-reader")
    assert outage.get(other).status_code == 200
    assert outage.keystone.validations(at_least=before + 2) == before + 2


def test_keystone_down_fails_closed_but_cached_tokens_keep_working(
    keystone: Keystone, outage: Outage
) -> None:
    seen = keystone.new_token("alpha-member")
    assert outage.get(seen).status_code == 200
    unseen = keystone.new_token("alpha-member")  # valid, but glimpse never asked about it
    outage.keystone.stop()

    # the test run's Keystone still vouches for ``unseen``: only glimpse's Keystone is gone
    vouched = keystone.admin_api.get("/auth/tokens", headers={"X-Subject-Token": unseen})
    assert vouched.status_code == 200
    for token in (unseen, "garbage"):
        refused = outage.get(token)
        assert refused.status_code == 503, refused.text
        assert "WWW-Authenticate" not in refused.headers
        assert outage.post(token, "must-not-exist").status_code == 503
    assert outage.get(None).status_code == 401  # no token: nothing to ask Keystone
    assert outage.get(seen).status_code == 200  # cached: served while Keystone is down
    names = {image["name"] for image in outage.get(seen).json()["images"]}
    assert "must-not-exist" not in names


def test_unreachable_keystone_fails_closed(keystone: Keystone, tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there: connections are refused
    env = keystone.server_env(GLIMPSE_KEYSTONE_AUTH_URL=f"http://127.0.0.1:{closed}/v3")
    with ServerProcess(tmp_path, env=env) as glimpse:
        token = keystone.new_token("alpha-member")
        response = httpx.get(glimpse.url + "/v2/images", headers={"X-Auth-Token": token})
        assert response.status_code == 503, response.text
        created = httpx.post(
            glimpse.url + "/v2/images", json=IMAGE, headers={"X-Auth-Token": token}
        )
        assert created.status_code == 503


def test_unresponsive_keystone_times_out_to_503(keystone: Keystone, tmp_path: Path) -> None:
    # a socket that accepts connections (the kernel does) but never answers a byte
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        env = keystone.server_env(
            GLIMPSE_KEYSTONE_AUTH_URL=f"http://127.0.0.1:{port}/v3",
            GLIMPSE_KEYSTONE_TIMEOUT_SECONDS="1",
        )
        with ServerProcess(tmp_path, env=env) as glimpse:
            token = keystone.new_token("alpha-member")
            started = time.monotonic()
            response = httpx.get(
                glimpse.url + "/v2/images", headers={"X-Auth-Token": token}, timeout=30
            )
            assert response.status_code == 503, response.text
            assert time.monotonic() - started < 20  # gave up: did not hang


def test_keystone_mode_refuses_to_start_without_its_settings(tmp_path: Path) -> None:
    env: dict[str, Any] = {
        "GLIMPSE_AUTH_MODE": "keystone",
        "GLIMPSE_DATA_DIR": str(tmp_path),
        "GLIMPSE_KEYSTONE_USERNAME": "glimpse",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "serve"],
        env=env,
        capture_output=True,
        timeout=60,
        text=True,
    )
    assert done.returncode == 2
    assert "GLIMPSE_KEYSTONE_AUTH_URL" in done.stderr
    assert "GLIMPSE_KEYSTONE_PASSWORD" in done.stderr
    assert "GLIMPSE_KEYSTONE_USERNAME" not in done.stderr
