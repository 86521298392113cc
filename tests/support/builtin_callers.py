"""The personas of ``tests/support/personas.py`` as real tokens of glimpse's built-in
identity: projects, users and role assignments made through its directory, tokens asked
for at ``/identity/v3/auth/tokens`` as keystoneauth asks for them."""

from __future__ import annotations

from typing import Any

import httpx

from glimpse.db.engine import Database
from glimpse.identity.directory import Directory
from glimpse.identity.passwords import Passwords
from tests.support.personas import PERSONA_ROLES, Callers

PASSWORD = "a long enough test password"
# the tests are about authorisation, not about password hashing cost
CHEAP_HASHES: dict[str, Any] = {"password_hash_time_cost": 1, "password_hash_memory_kib": 64}
# the role of the ``norole`` persona: one no rule names
NO_SUCH_RULE_ROLE = "creator"


async def create_accounts(database_url: str) -> None:
    """A project per project of the story, a user per persona (named after it) holding
    the persona's strongest role on its project (the others are implied)."""
    db = Database(database_url, pool_size=2)
    try:
        directory = Directory(db, Passwords(time_cost=1, memory_kib=64))
        await directory.ensure_defaults()
        await directory.create_role(NO_SUCH_RULE_ROLE)
        for project in dict.fromkeys(project for project, _ in PERSONA_ROLES.values()):
            await directory.create_project(project)
        for name, (project, roles) in PERSONA_ROLES.items():
            await directory.create_user(name, PASSWORD)
            await directory.grant(roles.split(",")[0], user=name, project=project)
    finally:
        await db.aclose()


async def token(client: httpx.AsyncClient, user: str, project: str) -> tuple[str, str]:
    """A project-scoped token of ``user`` and the project's id."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": PASSWORD}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    response = await client.post("/identity/v3/auth/tokens?nocatalog", json=body)
    assert response.status_code == 201, response.text
    project_id: str = response.json()["token"]["project"]["id"]
    return response.headers["x-subject-token"], project_id


async def builtin_callers(client: httpx.AsyncClient) -> Callers:
    """Every persona's token from a glimpse in ``builtin`` mode whose database holds the
    accounts of :func:`create_accounts`."""
    headers: dict[str, dict[str, str]] = {}
    projects: dict[str, str] = {}
    for name, (project, _) in PERSONA_ROLES.items():
        issued, projects[project] = await token(client, name, project)
        headers[name] = {"X-Auth-Token": issued}
    return Callers(client, headers, projects)
