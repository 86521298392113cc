"""First start of the built-in identity: with no users yet, make project ``admin`` and
user ``admin`` (role ``admin``, which implies ``member`` and ``reader``), with a random
password kept in ``<data_dir>/admin-password`` and a ready ``<data_dir>/clouds.yaml``
(both 0600), as ``keystone-manage bootstrap`` does for a Keystone."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from glimpse.clock import utcnow
from glimpse.concurrency import run_blocking
from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.identity.directory import ensure_defaults, new_id
from glimpse.identity.model import (
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    Domain,
    Project,
    User,
)
from glimpse.identity.passwords import Passwords
from glimpse.identity.repository import IdentityRepository

log = logging.getLogger(__name__)

ADMIN = "admin"
CLOUD_NAME = "glimpse"


@dataclass(frozen=True)
class Bootstrapped:
    password_file: Path
    clouds_file: Path
    snippet: str  # the clouds.yaml entry, password left out


async def bootstrap_admin(db: Database, passwords: Passwords) -> str | None:
    """Create the first admin if there is no user at all; return its password, or None
    if there were users (or another node made them at the same moment)."""
    if await UnitsOfWork(db, IdentityRepository).read(lambda repo: repo.count_users()) > 0:
        return None
    password = secrets.token_urlsafe(18)
    hashed = await run_blocking(passwords.hash, password)

    def work(repo: IdentityRepository) -> bool:
        ensure_defaults(repo)
        if repo.count_users() > 0:
            return False
        now = utcnow()
        domain = repo.get_domain(domain_id=DEFAULT_DOMAIN_ID) or Domain(
            DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME
        )
        project = repo.find_project(ADMIN, domain_id=domain.id)
        if project is None:
            project = Project(new_id(), ADMIN, domain, description="Bootstrap project")
            repo.add_project(project, now)
        user = User(new_id(), ADMIN, domain, True, hashed)
        repo.add_user(user, now)
        role = repo.get_role(ADMIN)
        assert role is not None  # ensure_defaults made it
        repo.add_assignment(user.id, project.id, role.id)
        repo.bump_generation()
        return True

    try:
        created = await UnitsOfWork(db, IdentityRepository).write(work)
    except IntegrityError:
        return None
    return password if created else None


def clouds_yaml(auth_url: str, password: str | None, region: str) -> str:
    secret = password if password is not None else "<see admin-password in the data dir>"
    return (
        "clouds:\n"
        f"  {CLOUD_NAME}:\n"
        "    auth:\n"
        f"      auth_url: {auth_url}\n"
        f"      username: {ADMIN}\n"
        f'      password: "{secret}"\n'
        f"      project_name: {ADMIN}\n"
        f"      user_domain_name: {DEFAULT_DOMAIN_NAME}\n"
        f"      project_domain_name: {DEFAULT_DOMAIN_NAME}\n"
        f"    region_name: {region}\n"
        "    identity_api_version: 3\n"
    )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)  # also when the file was there before
        out.write(text)


def save_credentials(settings: Settings, auth_url: str, password: str) -> Bootstrapped:
    settings.make_data_dir()
    password_file = settings.data_dir / "admin-password"
    clouds_file = settings.data_dir / "clouds.yaml"
    _write_private(password_file, password + "\n")
    _write_private(clouds_file, clouds_yaml(auth_url, password, settings.identity_region))
    return Bootstrapped(
        password_file, clouds_file, clouds_yaml(auth_url, None, settings.identity_region)
    )
