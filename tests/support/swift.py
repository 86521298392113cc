"""The real Swift the tests use: the one ``.ci/backends/swift-up.sh`` started (its
``ST_AUTH``/``ST_USER``/``ST_KEY``, by default the all-in-one on 127.0.0.1:8090), or a
skip naming Swift when none answers and ``GLIMPSE_TEST_REQUIRE_SWIFT`` is not set."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
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
