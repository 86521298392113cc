"""The real Swift the tests use: the one ``.ci/backends/swift-up.sh`` started (its
``ST_AUTH``/``ST_USER``/``ST_KEY``, by default the all-in-one on 127.0.0.1:8090), or a
skip naming Swift when none answers and ``GLIMPSE_TEST_REQUIRE_SWIFT`` is not set."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from keystoneauth1.identity import v3
from keystoneauth1.session import Session
from swiftclient.client import ClientException, Connection

from tests.support.server import free_port, wait_until_answers


@dataclass(frozen=True)
class SwiftServer:
    """An account of the test Swift: by tempauth (v1), or with ``keystone`` by a
    Keystone user (``user`` is "project:user", ``auth_address`` Keystone's)."""

    auth_address: str
    user: str
    key: str
    keystone: bool = False

    def connect(self) -> Connection:
        if self.keystone:
            project, _, username = self.user.partition(":")
            auth = v3.Password(
                auth_url=self.auth_address,
                username=username,
                password=self.key,
                project_name=project,
                user_domain_id="default",
                project_domain_id="default",
            )
            return Connection(session=Session(auth=auth), retries=0)
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
            "auth_version": "3" if self.keystone else "1",
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


@pytest.fixture(scope="session")
def keystone_swift(swift_server: SwiftServer) -> SwiftServer:
    """The test Swift's account of the test Keystone's service user (project
    ``service``), reached with Keystone tokens through the catalogue."""
    path = os.environ.get("SWIFT_KEYSTONE_CREDENTIALS")
    if not path:
        if os.environ.get("GLIMPSE_TEST_REQUIRE_SWIFT") == "1":
            raise RuntimeError(
                "SWIFT_KEYSTONE_CREDENTIALS is not set: the test Swift takes no Keystone tokens"
            )
        pytest.skip(
            "the test Swift takes no Keystone tokens (swift-up.sh was run without "
            "SWIFT_KEYSTONE_CREDENTIALS)"
        )
    credentials = json.loads(Path(path).read_text())
    service = credentials["service"]
    server = SwiftServer(
        credentials["auth_url"],
        f"{service['project_name']}:{service['username']}",
        service["password"],
        keystone=True,
    )
    server.connect().get_auth()
    return server


@pytest.fixture
def swift_container(swift_server: SwiftServer) -> Iterator[str]:
    """A container of its own for one test, removed afterwards."""
    name = f"glimpse-test-{secrets.token_hex(4)}"
    yield name
    swift_server.remove(name)


def swift_base() -> Path:
    """Where swift-up.sh keeps the test Swift's configs (``SWIFT_BASE``)."""
    return Path(
        os.environ.get("SWIFT_BASE")
        or Path(os.environ.get("BACKENDS_DIR", "/tmp/glimpse-backends")) / "swift"
    )


class PrivateProxy:
    """A Swift proxy server of one test's own, on a port of its own, in front of the test
    Swift's rings and storage servers: the test may stop it (by its PID) mid-request
    without touching the proxy the other tests share."""

    def __init__(self, shared: SwiftServer, directory: Path) -> None:
        conf = swift_base() / "etc" / "proxy-server.conf"
        if not conf.exists():
            if os.environ.get("GLIMPSE_TEST_REQUIRE_SWIFT") == "1":
                raise FileNotFoundError(conf)
            pytest.skip(f"no proxy-server.conf of swift-up.sh ({conf}): set SWIFT_BASE")
        text = conf.read_text()
        shared_port = re.search(r"^bind_port = (\d+)$", text, re.MULTILINE)
        assert shared_port, conf
        self.port = free_port()
        text = text.replace(f":{shared_port[1]}/", f":{self.port}/")  # tempauth's storage URL
        self.conf = directory / "proxy-server.conf"
        self.conf.write_text(text.replace(shared_port[0], f"bind_port = {self.port}"))
        self.log = directory / "proxy-server.log"
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = SwiftServer(f"{self.url}/auth/v1.0", shared.user, shared.key)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = Path(os.environ.get("SWIFT_BIN_DIR", "/usr/bin")) / "swift-proxy-server"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(binary), str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        # (swift-up.sh's proxy pipeline starts with the healthcheck middleware)
        wait_until_answers(self.process, f"{self.url}/healthcheck", 60, self.log.read_text)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_swift(swift_server: SwiftServer, tmp_path: Path) -> Iterator[PrivateProxy]:
    proxy = PrivateProxy(swift_server, tmp_path)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
