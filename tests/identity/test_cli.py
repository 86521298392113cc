"""``glimpse user|project|role`` as an operator runs them (``python -m glimpse`` in a
subprocess) against the database of a running node, which then honours the changes."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.identity.conftest import PYTHON, Node, auth, glimpse_env, password_body


@pytest.fixture
def glimpse(node: Node, tmp_path: Path, database_url: str) -> Any:
    env = glimpse_env(database_url, tmp_path / "cli-data")

    def run(
        *args: str, stdin: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [PYTHON, "-m", "glimpse", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    return run


async def can_log_in(node: Node, user: str, password: str, project: str | None = None) -> int:
    response = await node.client.post(
        "/identity/v3/auth/tokens", json=password_body(user, password, project=project)
    )
    return response.status_code


async def test_create_user_and_project_then_grant(node: Node, glimpse: Any) -> None:
    user_id = glimpse("user", "create", "carol", "--password", "pw-carol").stdout.strip()
    project_id = glimpse("project", "create", "gamma", "--description", "team").stdout.strip()
    assert len(user_id) == 32 and len(project_id) == 32
    assert await can_log_in(node, "carol", "pw-carol") == 201
    assert await can_log_in(node, "carol", "pw-carol", "gamma") == 401  # no role yet
    glimpse("role", "add", "--user", "carol", "--project", "gamma", "member")
    assert await can_log_in(node, "carol", "pw-carol", "gamma") == 201

    users = glimpse("user", "list").stdout.splitlines()
    assert users[0].split() == ["ID", "NAME", "DOMAIN", "ENABLED"]
    assert f"{user_id}  carol  Default  true" in [
        " ".join(u.split()).replace(" ", "  ") for u in users
    ]
    projects = glimpse("project", "list").stdout
    assert project_id in projects and "gamma" in projects
    roles = [line.split() for line in glimpse("role", "list").stdout.splitlines()]
    assert roles[0] == ["ID", "NAME"]
    assert {"admin", "member", "reader", "service"} <= {row[1] for row in roles[1:]}
    held = [line.split() for line in glimpse("role", "assignments").stdout.splitlines()]
    assert ["member", "carol", "gamma"] in held
    assert [
        line.split()
        for line in glimpse("role", "assignments", "--user", "carol").stdout.splitlines()
    ] == [
        ["ROLE", "USER", "PROJECT"],
        ["member", "carol", "gamma"],
    ]


async def test_role_remove_and_password_change_reach_a_running_node(
    node: Node, glimpse: Any
) -> None:
    token = await node.token("alice", project="alpha")
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 200
    glimpse("role", "remove", "--user", "alice", "--project", "alpha", "member")
    await asyncio.sleep(1.1)
    assert (await node.client.get("/v2/images", headers=auth(token))).status_code == 401
    assert await can_log_in(node, "alice", "correct horse battery staple", "alpha") == 401

    # the new password from stdin, as a script would pipe it
    glimpse("user", "set-password", "bob", stdin="new-bob\n")
    assert await can_log_in(node, "bob", "correct horse battery staple") == 401
    assert await can_log_in(node, "bob", "new-bob", "beta") == 201


async def test_disable_enable_delete(node: Node, glimpse: Any) -> None:
    glimpse("user", "disable", "bob")
    assert await can_log_in(node, "bob", "correct horse battery staple") == 401
    glimpse("user", "enable", "bob")
    assert await can_log_in(node, "bob", "correct horse battery staple") == 201
    glimpse("user", "delete", "bob")
    assert await can_log_in(node, "bob", "correct horse battery staple") == 401
    glimpse("project", "delete", "beta")
    assert [p.name for p in await node.accounts.directory.list_projects()] == ["alpha"]


ERRORS = [
    (("user", "create", "alice", "--password", "x"), "User 'alice' exists"),
    (("role", "add", "--user", "alice", "--project", "alpha", "wizard"), "No role 'wizard'"),
    (("role", "remove", "--user", "alice", "--project", "beta", "member"), "holds no role"),
    (("project", "create", "gamma", "--domain", "Nowhere"), "No domain 'Nowhere'"),
]


async def test_errors_say_what_is_wrong(node: Node, glimpse: Any) -> None:
    for args, message in ERRORS:
        done = glimpse(*args, ok=False)
        assert done.returncode == 1, args
        assert message in done.stderr, args
