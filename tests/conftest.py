"""Shared fixtures: real databases (SQLite file, PostgreSQL), the app in-process, and a
real server process.

Every API test runs once per database backend (``sqlite`` and ``postgresql``). The
PostgreSQL server is the one at ``GLIMPSE_TEST_PG_URL`` (default: the local one on
127.0.0.1:5432); ``scripts/test`` starts one when none answers and sets
``GLIMPSE_TEST_REQUIRE_PG=1`` so that a missing server fails the run instead of
skipping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from glimpse.app import Glimpse
from glimpse.config import Settings
from glimpse.db import migrate
from tests.support.server import ServerProcess
from tests.support.stored import Stored
from tests.support.units import empty
from tests.support.web import Web

# the Keystone-mode fixtures (keystone, glimpse_keystone, as_user); the real Swift
pytest_plugins = ["tests.support.keystone", "tests.support.swift"]

PG_ADMIN_URL = os.environ.get(
    "GLIMPSE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin() -> psycopg.Connection[Any]:
    url = make_url(PG_ADMIN_URL)
    return psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
        connect_timeout=3,
    )


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database on the test server; dropped after."""
    try:
        admin = _pg_admin()
    except psycopg.OperationalError as exc:
        if os.environ.get("GLIMPSE_TEST_REQUIRE_PG") == "1":
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"glimpse_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    url_text = url.render_as_string(hide_password=False)
    migrate.upgrade(url_text)
    try:
        yield url_text
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'glimpse.db'}"
        migrate.upgrade(url)
        yield url
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def wipe(app: Glimpse) -> None:
    """Empty every table (much faster than a fresh schema per test)."""
    empty(app.db)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def make_settings(database_url: str, data_dir: Path) -> Any:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "data_dir": data_dir,
            "upload_buffer_size": 1 << 20,
            # the API tests speak for callers with noauth's identity headers; the
            # identity modes have their own tests (tests/auth)
            "auth_mode": "noauth",
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
def stored(make_settings: Any) -> Stored:
    """What the stores of the in-process app hold (asked through the store protocol)."""
    return Stored(make_settings())


@pytest.fixture
async def make_client(make_settings: Any) -> AsyncIterator[Any]:
    """Build an in-process app (with its own settings) and an HTTP client for it."""
    made: list[tuple[Glimpse, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> httpx.AsyncClient:
        app = Glimpse(make_settings(**overrides))
        if not made:
            wipe(app)
        await app.startup()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://glimpse.test",
            headers={"Accept": "application/json"},
        )
        made.append((app, client))
        return client

    yield make
    for app, client in made:
        await client.aclose()
        await app.shutdown()


@pytest.fixture
async def client(make_client: Any) -> httpx.AsyncClient:
    made: httpx.AsyncClient = await make_client()
    return made


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real ``glimpse serve`` process on a free port, for this backend."""
    data_dir = tmp_path_factory.mktemp("server-data")
    with ServerProcess(
        data_dir,
        env={
            "GLIMPSE_DATABASE_URL": database_url,
            "GLIMPSE_UPLOAD_LEASE_SECONDS": "3",
            # it shares the session's database with every test: its workers would
            # claim the jobs other tests queue (with stores it does not have)
            "GLIMPSE_RUN_WORKERS": "false",
        },
    ) as running:
        yield running


@pytest.fixture
def live(server: ServerProcess, make_settings: Any) -> Iterator[httpx.Client]:
    """An HTTP client for the real server, on an emptied database and stores."""
    app = Glimpse(make_settings())
    wipe(app)
    app.db.close()
    Stored.of_server(server).remove_everything()
    with httpx.Client(
        base_url=server.url, headers={"Accept": "application/json"}, timeout=60
    ) as http:
        yield http


@pytest.fixture
def web() -> Iterator[Web]:
    """A real HTTP server on 127.0.0.1 whose paths answer as the test says."""
    server = Web()
    yield server
    server.close()
