"""First start of ``glimpse serve`` in ``builtin`` mode: an admin to log in with, its
password and a ready clouds.yaml in the data dir (0600), and nothing new on later starts."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import httpx
import yaml

from glimpse.app import Glimpse
from tests.conftest import wipe
from tests.identity.conftest import CHEAP_HASHES_ENV, password_body
from tests.support.server import ServerProcess


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def log_in(url: str, password: str) -> httpx.Response:
    body = password_body("admin", password, project="admin")
    return httpx.post(f"{url}/identity/v3/auth/tokens?nocatalog", json=body, timeout=30)


def test_first_start_makes_an_admin(
    tmp_path: Path, backend: str, database_url: str, make_settings: Any
) -> None:
    env = {"GLIMPSE_AUTH_MODE": "builtin", **CHEAP_HASHES_ENV}
    if backend == "postgresql":
        app = Glimpse(make_settings())
        wipe(app)  # no user at all: a first start
        app.db.close()
        env["GLIMPSE_DATABASE_URL"] = database_url
    # on SQLite: the embedded default, the database made in the data dir
    data = tmp_path / "first-start"
    data.mkdir()
    with ServerProcess(data, env=env) as server:
        password_file, clouds_file = data / "admin-password", data / "clouds.yaml"
        assert mode(password_file) == 0o600
        assert mode(clouds_file) == 0o600
        assert mode(data / "token-keys") == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 20

        cloud = yaml.safe_load(clouds_file.read_text())["clouds"]["glimpse"]
        assert cloud["auth"] == {
            "auth_url": f"{server.url}/identity/v3",
            "username": "admin",
            "password": password,
            "project_name": "admin",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }
        assert cloud["region_name"] == "RegionOne"

        response = log_in(server.url, password)
        assert response.status_code == 201, response.text
        roles = {role["name"] for role in response.json()["token"]["roles"]}
        assert roles == {"admin", "member", "reader"}

        log = server.log()
        assert "first start" in log
        assert str(clouds_file) in log and f"auth_url: {server.url}/identity/v3" in log
        assert password not in log  # the secret stays in the 0600 files

    # a later start changes nothing
    with ServerProcess(data, env=env) as again:
        assert password_file.read_text().strip() == password
        assert log_in(again.url, password).status_code == 201
        assert again.log().count("first start") == 1
