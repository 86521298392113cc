"""Who the ``auth`` workload's client is, in each identity mode glimpse has.

- a private, real Keystone (``.ci/keystone/keystone.sh``, as the tests and the conformance
  run use): glimpse validates tokens against it with its service user, the client is its
  test user ``alpha-member``;
- glimpse's built-in identity: a project ``bench`` and its member ``bench-member``, made
  with glimpse's own commands on the running server's database;
- :func:`project_token`: a project-scoped token from either, by the password method, as
  any Keystone client logs in.

Keystone is stopped by its PID (``keystone.sh down``), its directory removed.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import ROOT, GlimpseServer

KEYSTONE_SH = ROOT / ".ci" / "keystone" / "keystone.sh"
KEYSTONE_USER = "alpha-member"  # ks_admin.py's test user with role member on alpha
BUILTIN_PROJECT = "bench"
BUILTIN_USER = "bench-member"


@dataclass(frozen=True, slots=True)
class Account:
    auth_url: str  # Keystone's v3 root: …/v3
    username: str
    password: str
    project_name: str
    domain_name: str = "Default"


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    roles: tuple[str, ...]  # as the token carries them (implied ones included)


def project_token(account: Account) -> Token:
    """``POST {auth_url}/auth/tokens``: password method, scoped to the account's project."""
    domain = {"name": account.domain_name}
    user = {"name": account.username, "domain": domain, "password": account.password}
    body = {
        "auth": {
            "identity": {"methods": ["password"], "password": {"user": user}},
            "scope": {"project": {"name": account.project_name, "domain": domain}},
        }
    }
    request = urllib.request.Request(
        f"{account.auth_url}/auth/tokens",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        value = resp.headers["X-Subject-Token"]
        roles = json.loads(resp.read())["token"]["roles"]
    return Token(value, tuple(sorted(role["name"] for role in roles)))


def builtin_member(server: GlimpseServer) -> Token:
    """Make project ``bench`` and user ``bench-member`` (role ``member``) in a running
    glimpse's built-in identity, then log in as that user."""
    password = secrets.token_urlsafe(18)
    commands = [
        (["project", "create", BUILTIN_PROJECT], None),
        (["user", "create", BUILTIN_USER], password + "\n"),  # read from stdin: not in ps
        (["role", "add", "--user", BUILTIN_USER, "--project", BUILTIN_PROJECT, "member"], None),
    ]
    for args, stdin in commands:
        done = subprocess.run(
            [sys.executable, "-m", "glimpse", *args],
            input=stdin, env=server.env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"glimpse {' '.join(args)}: {done.stderr.strip()[-300:]}")
    account = Account(f"{server.url}/identity/v3", BUILTIN_USER, password, BUILTIN_PROJECT)
    # a running server sees identity changes within a second
    deadline = time.monotonic() + 10
    while True:
        try:
            return project_token(account)
        except urllib.error.HTTPError as exc:
            if exc.code != 401 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class PrivateKeystone:
    """``keystone.sh up`` in a new temporary directory; :meth:`down` stops it by PID and
    removes the directory. Its first install takes ~30 s (cached afterwards)."""

    def __init__(self) -> None:
        self.run_dir = Path(tempfile.mkdtemp(prefix="glimpse-bench-keystone-"))
        self.url = ""
        self.credentials: dict[str, Any] = {}

    def _script(self, command: str, check: bool) -> None:
        # its progress goes to stderr, with the harness's; stdout is the report's
        subprocess.run(
            ["bash", str(KEYSTONE_SH), command, str(self.run_dir)], stdout=sys.stderr, check=check
        )

    def up(self) -> None:
        self._script("up", check=True)
        env = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (self.run_dir / "env").read_text().splitlines()
            if "=" in line
        )
        self.url = env["GLIMPSE_TEST_KEYSTONE_URL"]
        self.credentials = json.loads(Path(env["GLIMPSE_TEST_KEYSTONE_CREDENTIALS"]).read_text())

    def down(self) -> None:
        if self.run_dir.exists():
            self._script("down", check=False)
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def glimpse_settings(self) -> dict[str, str]:
        """glimpse in keystone mode against this Keystone, with its service user."""
        service = self.credentials["service"]
        return {
            "GLIMPSE_AUTH_MODE": "keystone",
            "GLIMPSE_KEYSTONE_AUTH_URL": self.url,
            "GLIMPSE_KEYSTONE_USERNAME": service["username"],
            "GLIMPSE_KEYSTONE_PASSWORD": service["password"],
            "GLIMPSE_KEYSTONE_PROJECT_NAME": service["project_name"],
        }

    def member_token(self) -> Token:
        """A token of the test member that Keystone will vouch for. ks_admin.py has just
        set that user's password, a revocation event, and Keystone compares times to the
        second: a token issued within the same second is refused when validated. So ask
        Keystone (a user may validate their own token) and take a new one until it is
        valid."""
        user = self.credentials["users"][KEYSTONE_USER]
        account = Account(self.url, user["username"], user["password"], user["project_name"])
        deadline = time.monotonic() + 10
        while True:
            token = project_token(account)
            check = urllib.request.Request(
                f"{self.url}/auth/tokens?nocatalog",
                headers={"X-Auth-Token": token.value, "X-Subject-Token": token.value},
            )
            try:
                with urllib.request.urlopen(check, timeout=30):
                    return token
            except urllib.error.HTTPError as exc:
                if exc.code not in (401, 404) or time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def validations(self) -> int:
        """Token validations Keystone has answered so far (from uWSGI's request log):
        with glimpse's cache warm, none during the timed phases."""
        log = self.run_dir / "uwsgi.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return text.count("GET /v3/auth/tokens?nocatalog")
