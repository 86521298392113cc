"""``glimpse limits set|show|unset`` as an operator runs them, and a real ``glimpse
serve`` on the same data enforcing what they set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from glimpse.config import Settings
from glimpse.db import migrate
from glimpse.db.engine import Database
from glimpse.identity.directory import Directory
from glimpse.identity.passwords import Passwords
from tests.support.server import ServerProcess

PASSWORD = "a long enough test password"

REGISTERED = json.dumps({"image_count_total": 1, "image_size_total": 10,
                         "image_stage_total": -1, "image_count_uploading": -1})  # fmt: skip


def glimpse(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "glimpse", "limits", *args],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(data), "GLIMPSE_USE_KEYSTONE_LIMITS": "true",
             "GLIMPSE_REGISTERED_LIMITS": REGISTERED, "GLIMPSE_AUTH_MODE": "noauth", **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}


def test_set_show_unset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shown = glimpse(data, "show", "alpha")
    assert shown.returncode == 0, shown.stderr
    assert rows(shown.stdout) == {
        "image_size_total": ["10", "registered", "0"],
        "image_stage_total": ["-1", "registered", "0"],
        "image_count_total": ["1", "registered", "0"],
        "image_count_uploading": ["-1", "registered", "0"],
    }
    done = glimpse(data, "set", "alpha", "image_count_total=3", "image_size_total=-1")
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout)["image_count_total"] == ["3", "project", "0"]
    assert rows(done.stdout)["image_size_total"] == ["-1", "project", "0"]
    assert rows(glimpse(data, "show", "beta").stdout)["image_count_total"][1] == "registered"
    undone = glimpse(data, "unset", "alpha", "image_size_total")
    assert undone.returncode == 0, undone.stderr
    assert rows(undone.stdout)["image_size_total"] == ["10", "registered", "0"]
    assert rows(undone.stdout)["image_count_total"] == ["3", "project", "0"]


def test_bad_assignments_are_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for words in (["image_count"], ["image_count_total=lots"], ["image_count_total=-2"],
                  ["cores=4"]):  # fmt: skip
        done = glimpse(data, "set", "alpha", *words)
        assert done.returncode == 2, words
        assert done.stderr.startswith("glimpse: ") and len(done.stderr.splitlines()) == 1
    assert rows(glimpse(data, "show", "alpha").stdout)["image_count_total"][1] == "registered"
    assert glimpse(data, "unset", "alpha", "cores").returncode == 2


def test_a_real_server_enforces_what_the_command_set(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert glimpse(data, "set", "alpha", "image_count_total=2").returncode == 0
    env = {"GLIMPSE_USE_KEYSTONE_LIMITS": "true", "GLIMPSE_REGISTERED_LIMITS": REGISTERED}
    with ServerProcess(data, env=env) as server, httpx.Client(base_url=server.url) as http:
        alpha = {"X-Project-Id": "alpha", "X-Roles": "member,reader"}
        beta = {"X-Project-Id": "beta", "X-Roles": "member,reader"}
        answers = [http.post("/v2/images", json={}, headers=alpha).status_code for _ in range(3)]
        assert answers == [201, 201, 413]
        answers = [http.post("/v2/images", json={}, headers=beta).status_code for _ in range(2)]
        assert answers == [201, 413]
        usage = http.get("/v2/info/usage", headers=alpha).json()["usage"]
        assert usage["image_count_total"] == {"usage": 2, "limit": 2}
    assert rows(glimpse(data, "show", "alpha").stdout)["image_count_total"] == ["2", "project", "2"]


def test_the_command_says_when_limits_are_not_enforced(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "glimpse", "limits", "set", "alpha", "image_count_total=1"],
        env={**os.environ, "GLIMPSE_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0
    assert "use_keystone_limits is off" in done.stderr


async def test_built_in_identity_projects_are_named(tmp_path: Path) -> None:
    """Under the built-in identity the command takes a project's name; a real server
    holds that project's tokens to the limit."""
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(data_dir=data)
    migrate.prepare(settings.resolved_database_url)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        directory = Directory(db, Passwords(time_cost=1, memory_kib=64))
        await directory.ensure_defaults()
        project = await directory.create_project("web")
        await directory.create_user("webber", PASSWORD)
        await directory.grant("member", user="webber", project="web")
    finally:
        await db.aclose()
    done = glimpse(data, "set", "web", "image_count_total=1", GLIMPSE_AUTH_MODE="builtin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"project {project.id}"
    env = {
        "GLIMPSE_AUTH_MODE": "builtin",
        "GLIMPSE_USE_KEYSTONE_LIMITS": "true",
        "GLIMPSE_REGISTERED_LIMITS": REGISTERED,
    }
    with ServerProcess(data, env=env) as server, httpx.Client(base_url=server.url) as http:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "webber", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "web", "domain": {"name": "Default"}}},
        }}  # fmt: skip
        issued = http.post("/identity/v3/auth/tokens?nocatalog", json=body)
        assert issued.status_code == 201, issued.text
        token = {"X-Auth-Token": issued.headers["x-subject-token"]}
        answers = [http.post("/v2/images", json={}, headers=token).status_code for _ in range(2)]
        assert answers == [201, 413]


def test_the_command_says_keystone_mode_reads_keystone(tmp_path: Path) -> None:
    done = glimpse(tmp_path / "data", "set", "p1", "image_count_total=1",
                   GLIMPSE_AUTH_MODE="keystone")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "the limits are Keystone's" in done.stderr
