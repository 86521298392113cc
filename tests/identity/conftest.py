"""Fixtures of the built-in identity tests: glimpse in ``builtin`` mode in-process
(``make_node``/``node``) and as a real server process (``builtin_server``), each on both
database backends, with users made straight in the database (``Accounts``).

Password hashing runs at the lowest argon2 cost here: the tests are about identity, not
about hashing speed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from glimpse.app import Glimpse
from glimpse.db.engine import Database
from glimpse.identity.directory import Directory
from glimpse.identity.passwords import Passwords
from tests.conftest import wipe
from tests.support.server import ServerProcess

CHEAP_HASHES: dict[str, Any] = {"password_hash_time_cost": 1, "password_hash_memory_kib": 64}
CHEAP_HASHES_ENV = {
    "GLIMPSE_PASSWORD_HASH_TIME_COST": "1",
    "GLIMPSE_PASSWORD_HASH_MEMORY_KIB": "64",
}
PASSWORD = "correct horse battery staple"


def password_body(
    user: str,
    password: str = PASSWORD,
    *,
    project: str | None = None,
    domain: str = "Default",
) -> dict[str, Any]:
    """A ``POST /v3/auth/tokens`` body as keystoneauth sends it (names, domain names)."""
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}},
        }
    }
    if project is not None:
        auth["scope"] = {"project": {"name": project, "domain": {"name": domain}}}
    return {"auth": auth}


@dataclass
class Accounts:
    """Projects ``alpha`` and ``beta``; ``alice`` is a member of alpha, ``bob`` of beta,
    ``root`` an admin of alpha; all with ``PASSWORD``. Ids by name."""

    directory: Directory
    users: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)

    async def create(self) -> Accounts:
        await self.directory.ensure_defaults()
        for name in ("alpha", "beta"):
            self.projects[name] = (await self.directory.create_project(name)).id
        for name, project, role in (
            ("alice", "alpha", "member"),
            ("bob", "beta", "member"),
            ("root", "alpha", "admin"),
        ):
            self.users[name] = (await self.directory.create_user(name, PASSWORD)).id
            await self.directory.grant(role, user=name, project=project)
        return self


@dataclass
class Node:
    """One glimpse in ``builtin`` mode, in-process, with a client."""

    app: Glimpse
    client: httpx.AsyncClient
    accounts: Accounts

    async def token(
        self, user: str, *, project: str | None = None, password: str = PASSWORD
    ) -> str:
        response = await self.client.post(
            "/identity/v3/auth/tokens?nocatalog",
            json=password_body(user, password, project=project),
        )
        assert response.status_code == 201, response.text
        return response.headers["x-subject-token"]

    async def validate(self, token: str, *, by: str | None = None) -> httpx.Response:
        return await self.client.get(
            "/identity/v3/auth/tokens",
            headers={"X-Auth-Token": by or token, "X-Subject-Token": token},
        )


def auth(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token}


@pytest.fixture
async def make_node(make_settings: Any) -> AsyncIterator[Any]:
    """Build glimpse nodes in ``builtin`` mode sharing one emptied database and data dir
    (and so one token key); the first one also creates the ``Accounts``."""
    made: list[Node] = []
    databases: list[Database] = []

    async def make(**overrides: Any) -> Node:
        app = Glimpse(make_settings(auth_mode="builtin", **CHEAP_HASHES, **overrides))
        if not made:
            wipe(app)
        await app.startup()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://glimpse.test"
        )
        if made:
            accounts = made[0].accounts
        else:
            db = Database(app.settings.resolved_database_url, pool_size=2)
            databases.append(db)
            directory = Directory(db, Passwords(time_cost=1, memory_kib=64))
            accounts = await Accounts(directory).create()
        node = Node(app, client, accounts)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.client.aclose()
        await node.app.shutdown()
    for db in databases:
        await db.aclose()


@pytest.fixture
async def node(make_node: Any) -> Node:
    made: Node = await make_node()
    return made


# ------------------------------------------------------------------ real server


@pytest.fixture(scope="session")
def builtin_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A real ``glimpse serve`` in ``builtin`` mode, for this backend."""
    data_dir = tmp_path_factory.mktemp("builtin-server")
    env = {
        "GLIMPSE_DATABASE_URL": database_url,
        "GLIMPSE_AUTH_MODE": "builtin",
        "GLIMPSE_RUN_WORKERS": "false",  # the session's database: other tests' jobs
        **CHEAP_HASHES_ENV,
    }
    with ServerProcess(data_dir, env=env) as running:
        yield running


@dataclass
class Live:
    url: str
    accounts: Accounts


@pytest.fixture
async def live_builtin(builtin_server: ServerProcess, make_settings: Any) -> AsyncIterator[Live]:
    """The real server on an emptied database holding the ``Accounts``."""
    settings = make_settings()
    app = Glimpse(settings)
    wipe(app)
    app.db.close()
    db = Database(settings.resolved_database_url, pool_size=2)
    try:
        accounts = await Accounts(Directory(db, Passwords(time_cost=1, memory_kib=64))).create()
        yield Live(builtin_server.url, accounts)
    finally:
        await db.aclose()


# -------------------------------------------------------------- subprocesses


def glimpse_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment of a ``python -m glimpse`` child on this test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLIMPSE_", "OS_"))}
    env.update(
        GLIMPSE_DATABASE_URL=database_url,
        GLIMPSE_DATA_DIR=str(data_dir),
        GLIMPSE_AUTH_MODE="builtin",
        **CHEAP_HASHES_ENV,
    )
    return env


PYTHON = sys.executable
