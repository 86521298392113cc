"""The real Keystone of the test run, and glimpse servers in ``keystone`` mode against it.

``scripts/test`` starts a private Keystone (``.ci/keystone/keystone.sh up``) and exports
``GLIMPSE_TEST_KEYSTONE_URL``, ``GLIMPSE_TEST_KEYSTONE_CREDENTIALS`` (the JSON file
``ks_admin.py setup`` wrote: admin, glimpse's service user, test users ``alpha-member``,
``alpha-reader``, ``beta-member``, ``beta-reader``) and ``GLIMPSE_TEST_KEYSTONE_RUN_DIR``.
Without them the Keystone tests skip, naming what is missing, unless
``GLIMPSE_TEST_REQUIRE_KEYSTONE=1`` (as ``scripts/test`` sets), where they fail.

The fixtures are registered for every test by ``tests/conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from keystoneauth1.adapter import Adapter
from keystoneauth1.identity import v3
from keystoneauth1.session import Session

from tests.support.server import ServerProcess, free_port, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]
KEYSTONE_SH = ROOT / ".ci" / "keystone" / "keystone.sh"
KS_ADMIN = ROOT / ".ci" / "keystone" / "ks_admin.py"
ENV_NAMES = (
    "GLIMPSE_TEST_KEYSTONE_URL",
    "GLIMPSE_TEST_KEYSTONE_CREDENTIALS",
    "GLIMPSE_TEST_KEYSTONE_RUN_DIR",
)
DOMAIN = "default"


@dataclass(frozen=True)
class Account:
    """A Keystone user and the project its token is scoped to."""

    user_id: str
    username: str
    password: str
    project_id: str
    project_name: str


class Keystone:
    """The test run's Keystone: accounts, tokens and an admin API (keystoneauth1)."""

    def __init__(self, url: str, credentials: dict[str, Any], run_dir: Path) -> None:
        self.url = url
        self.run_dir = run_dir
        self.credentials_file = Path(os.environ["GLIMPSE_TEST_KEYSTONE_CREDENTIALS"])
        self.admin = Account(**credentials["admin"])
        self.service = Account(**credentials["service"])
        self.users = {name: Account(**found) for name, found in credentials["users"].items()}
        self.admin_api = Adapter(self.session(self.admin), endpoint_override=url)
        self._tokens: dict[str, str] = {}

    def session(self, account: Account, **scope: Any) -> Session:
        """A keystoneauth session for ``account``, scoped to its project unless told."""
        scope = scope or {"project_id": account.project_id}
        auth = v3.Password(
            auth_url=self.url,
            username=account.username,
            password=account.password,
            user_domain_id=DOMAIN,
            **scope,
        )
        return Session(auth=auth, timeout=30)

    def token(self, name: str) -> str:
        """A project-scoped token of a test user (or ``admin``/``service``), one per run."""
        if name not in self._tokens:
            account = {"admin": self.admin, "service": self.service}.get(name) or self.users[name]
            found = self.session(account).get_token()
            assert found is not None
            self._tokens[name] = found
        return self._tokens[name]

    def new_token(self, name: str, **scope: Any) -> str:
        """A token nobody has used yet."""
        account = {"admin": self.admin, "service": self.service}.get(name) or self.users[name]
        found = self.session(account, **scope).get_token()
        assert found is not None
        return found

    def revoke(self, token: str) -> None:
        self.admin_api.delete("/auth/tokens", headers={"X-Subject-Token": token})

    def short_lived_token(self, name: str, seconds: float) -> tuple[str, datetime]:
        """A token that expires in about ``seconds``: Keystone cuts the life of a token
        made from an application credential at the credential's own ``expires_at``."""
        account = self.users[name]
        user_api = Adapter(self.session(account), endpoint_override=self.url)
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        body = {
            "name": f"short-{uuid.uuid4().hex}",
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),  # Keystone's format (UTC)
        }
        created = user_api.post(
            f"/users/{account.user_id}/application_credentials",
            json={"application_credential": body},
        ).json()["application_credential"]
        auth = v3.ApplicationCredential(
            auth_url=self.url,
            application_credential_id=created["id"],
            application_credential_secret=created["secret"],
        )
        session = Session(auth=auth, timeout=30)
        info = auth.get_access(session)
        assert info.auth_token is not None and info.expires is not None
        assert info.expires <= expires  # the token really ends with the credential
        return info.auth_token, info.expires

    def set_image_endpoint(self, url: str, region: str = "RegionOne") -> None:
        """The catalog's image endpoints (every interface) of ``region`` → ``url``."""
        command = [sys.executable, KS_ADMIN, "set-image-endpoint", "--region", region]
        subprocess.run(
            [*command, "--credentials", self.credentials_file, "--url", url],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def remove_image_endpoint(self, region: str) -> None:
        """No image endpoint in ``region`` any more (nor the region, unless RegionOne)."""
        command = [sys.executable, KS_ADMIN, "remove-image-endpoint", "--region", region]
        subprocess.run(
            [*command, "--credentials", self.credentials_file],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def server_env(self, **overrides: str) -> dict[str, str]:
        """The settings of a glimpse server in keystone mode against this Keystone."""
        return {
            "GLIMPSE_AUTH_MODE": "keystone",
            "GLIMPSE_KEYSTONE_AUTH_URL": self.url,
            "GLIMPSE_KEYSTONE_USERNAME": self.service.username,
            "GLIMPSE_KEYSTONE_PASSWORD": self.service.password,
            "GLIMPSE_KEYSTONE_PROJECT_NAME": self.service.project_name,
            **overrides,
        }


def keystone_from_env() -> Keystone:
    missing = [name for name in ENV_NAMES if not os.environ.get(name)]
    if missing:
        reason = f"no test Keystone: {', '.join(missing)} not set (scripts/test sets them)"
        if os.environ.get("GLIMPSE_TEST_REQUIRE_KEYSTONE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    url = os.environ["GLIMPSE_TEST_KEYSTONE_URL"]
    try:
        httpx.get(url, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"the test Keystone at {url} does not answer: {exc}")
    credentials = json.loads(Path(os.environ["GLIMPSE_TEST_KEYSTONE_CREDENTIALS"]).read_text())
    return Keystone(url, credentials, Path(os.environ["GLIMPSE_TEST_KEYSTONE_RUN_DIR"]))


class KeystoneInstance:
    """One more uWSGI process serving the test Keystone (same database and keys) on its
    own port, so that a test can stop it: a real Keystone outage."""

    def __init__(self, run_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v3"
        self.log_path = log_path
        self._process = subprocess.Popen(
            [str(KEYSTONE_SH), "serve", str(run_dir), str(self.port), str(log_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_answers(self._process, self.url, 60, self.log)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"keystone: {exc}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def validations(self, at_least: int = 0) -> int:
        """How many token validations this instance has served, from uWSGI's log. uWSGI
        logs a request after answering it, so wait (briefly) for ``at_least`` of them,
        then a little more for any line still on its way."""
        deadline = time.monotonic() + 10
        while self._count() < at_least and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        return self._count()

    def _count(self) -> int:
        return self.log().count("GET /v3/auth/tokens?nocatalog")

    def stop(self) -> None:
        """Stop the uWSGI master and its worker (their process group is our child's)."""
        if self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def keystone() -> Keystone:
    return keystone_from_env()


@pytest.fixture(scope="session")
def glimpse_keystone(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A real ``glimpse serve`` in keystone mode (embedded SQLite; default token cache)."""
    with ServerProcess(
        tmp_path_factory.mktemp("glimpse-keystone"), env=keystone.server_env()
    ) as running:
        yield running


@pytest.fixture
def as_user(keystone: Keystone, glimpse_keystone: ServerProcess) -> Iterator[Any]:
    """``as_user("alpha-member")``: an HTTP client for glimpse carrying that user's token."""
    clients: list[httpx.Client] = []

    def make(name: str, token: str | None = None, **headers: str) -> httpx.Client:
        client = httpx.Client(
            base_url=glimpse_keystone.url,
            headers={
                "Accept": "application/json",
                "X-Auth-Token": token or keystone.token(name),
                **headers,
            },
            timeout=30,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
