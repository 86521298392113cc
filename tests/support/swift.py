"""The real Swift the tests use: the one ``.ci/backends/swift-up.sh`` started (its
``ST_AUTH``/``ST_USER``/``ST_KEY``, by default the all-in-one on 127.0.0.1:8090), or a
skip naming Swift when none answers and ``GLIMPSE_TEST_REQUIRE_SWIFT`` is not set."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from swiftclient.client import ClientException, Connection


@dataclass(frozen=True)
class SwiftServer:
    auth_address: str
    user: str
    key: str

    def connect(self) -> Connection:
        return Connection(
            authurl=self.auth_address, user=self.user, key=self.key, auth_version="1", retries=0
        )

    def section(self, container: str, **overrides: Any) -> dict[str, Any]:
        """A ``[stores.<name>]`` section for ``container`` of this account."""
        return {
            "type": "swift",
            "auth_address": self.auth_address,
            "user": self.user,
            "key": self.key,
            "container": container,
            "create_container_on_put": True,
            "retries": 0,
            **overrides,
        }

    def names(self, container: str) -> list[str]:
        """Every object in ``container`` (none if it does not exist)."""
        conn = self.connect()
        try:
            return [o["name"] for o in conn.get_container(container, full_listing=True)[1]]
        except ClientException as exc:
            if exc.http_status == 404:
                return []
            raise
        finally:
            conn.close()

    def remove(self, container: str) -> None:
        conn = self.connect()
        with contextlib.closing(conn):
            for name in self.names(container):
                with contextlib.suppress(ClientException):
                    conn.delete_object(container, name)
            with contextlib.suppress(ClientException):
                conn.delete_container(container)


@pytest.fixture(scope="session")
def swift_server() -> SwiftServer:
    server = SwiftServer(
        os.environ.get("ST_AUTH", "http://127.0.0.1:8090/auth/v1.0"),
        os.environ.get("ST_USER", "glance:glance"),
        os.environ.get("ST_KEY", "glancepass"),
    )
    try:
        server.connect().get_auth()
    except Exception as exc:
        if os.environ.get("GLIMPSE_TEST_REQUIRE_SWIFT") == "1":
            raise
        pytest.skip(
            f"Swift not reachable at {server.auth_address} (.ci/backends/swift-up.sh): {exc}"
        )
    return server


@pytest.fixture
def swift_container(swift_server: SwiftServer) -> Iterator[str]:
    """A container of its own for one test, removed afterwards."""
    name = f"glimpse-test-{secrets.token_hex(4)}"
    yield name
    swift_server.remove(name)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def swift_stopped() -> Iterator[None]:
    """Swift's proxy server stopped (by the PID swift-up.sh recorded) while the block runs,
    then started again as it was."""
    base = Path(
        os.environ.get("SWIFT_BASE")
        or Path(os.environ.get("BACKENDS_DIR", "/tmp/glimpse-backends")) / "swift"
    )
    pid_file = base / "run" / "proxy-server.pid"
    if not pid_file.exists():
        if os.environ.get("GLIMPSE_TEST_REQUIRE_SWIFT") == "1":
            raise FileNotFoundError(pid_file)
        pytest.skip(f"no Swift proxy server started by swift-up.sh ({pid_file}): set SWIFT_BASE")
    pid = int(pid_file.read_text())
    command = Path(f"/proc/{pid}/cmdline").read_text().rstrip("\0").split("\0")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        # started as swift-up.sh starts it: detached, its PID where swift-down.sh looks
        started = subprocess.run(
            ["sh", "-c", 'nohup "$@" >>"$LOG" 2>&1 </dev/null & echo $!', "sh", *command],
            env={**os.environ, "LOG": str(base / "log" / "proxy-server.log")},
            capture_output=True, check=True, text=True,
        )  # fmt: skip
        pid_file.write_text(started.stdout)
        deadline = time.monotonic() + 60
        while True:
            try:
                Connection(
                    authurl=os.environ.get("ST_AUTH", "http://127.0.0.1:8090/auth/v1.0"),
                    user="glance:glance", key="glancepass", auth_version="1", retries=0,
                ).get_auth()  # fmt: skip
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
