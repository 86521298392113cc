"""``glimpse user|project|role …``: the built-in identity's users, projects and roles,
and the first-start bootstrap ``glimpse serve`` runs.

The commands work on the database the settings name (the embedded SQLite one is
created or upgraded first); a running server sees their changes within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from sqlalchemy.exc import DBAPIError

from glimpse.config import ConfigurationError, Settings
from glimpse.db.engine import Database
from glimpse.errors import GlimpseError
from glimpse.identity.bootstrap import (
    CLOUD_NAME,
    bootstrap_admin,
    clouds_yaml,
    save_credentials,
)
from glimpse.identity.directory import Directory
from glimpse.identity.passwords import Passwords

SettingsOf = Callable[[argparse.Namespace], Settings]


def passwords(settings: Settings) -> Passwords:
    return Passwords(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )


# ------------------------------------------------------------------ first start


def first_start(settings: Settings, log: logging.Logger) -> None:
    """Make the first admin when there is no user yet, and tell how to log in."""

    async def run() -> str | None:
        db = Database(settings.resolved_database_url, pool_size=1)
        try:
            return await bootstrap_admin(db, passwords(settings))
        finally:
            await db.aclose()

    try:
        password = asyncio.run(run())
    except DBAPIError as exc:
        log.error("cannot prepare the built-in identity (run 'glimpse db upgrade'?): %s", exc)
        raise SystemExit(2) from exc
    auth_url = f"{settings.public_url()}/identity/v3"
    if password is None:
        follow_endpoint(settings, auth_url, log)
        return
    saved = save_credentials(settings, auth_url, password)
    log.warning(
        "built-in identity, first start: created project 'admin' and user 'admin' (role "
        "admin); the password is in %s. A ready clouds.yaml is in %s:\n\n%s\n"
        "Use it with: OS_CLIENT_CONFIG_FILE=%s openstack --os-cloud %s image list",
        saved.password_file,
        saved.clouds_file,
        saved.snippet,
        saved.clouds_file,
        CLOUD_NAME,
    )


def follow_endpoint(settings: Settings, auth_url: str, log: logging.Logger) -> None:
    """A clouds.yaml of an earlier first start, made to name this start's endpoint (a
    new port, a new public_endpoint), so that it keeps working as it is."""
    clouds = settings.data_dir / "clouds.yaml"
    password_file = settings.data_dir / "admin-password"
    if not (clouds.is_file() and password_file.is_file()):
        return
    if f"auth_url: {auth_url}\n" in clouds.read_text():
        return
    password = password_file.read_text().strip()
    save_credentials(settings, auth_url, password)
    log.info("%s now names %s", clouds, auth_url)


def cmd_clouds_yaml(settings_of: SettingsOf, args: argparse.Namespace) -> int:
    """Print a clouds.yaml for the built-in identity at this configuration's endpoint."""
    settings = settings_of(args)
    auth_url = f"{settings.public_url()}/identity/v3"
    password_file = settings.data_dir / "admin-password"
    password = password_file.read_text().strip() if password_file.is_file() else None
    print(clouds_yaml(auth_url, password, settings.identity_region), end="")
    return 0


# ---------------------------------------------------------------------- running

Work = Callable[[argparse.Namespace, Directory], Awaitable[None]]


def _run(settings_of: SettingsOf, work: Work, args: argparse.Namespace) -> int:
    from glimpse.db import migrate

    settings = settings_of(args)
    url = settings.resolved_database_url
    settings.make_data_dir()
    try:
        migrate.prepare(url)
    except ConfigurationError as exc:
        print(f"glimpse: {exc}", file=sys.stderr)
        return 2
    if settings.auth_mode != "builtin":
        print(
            f"glimpse: note: auth_mode is {settings.auth_mode!r}; these users and projects "
            "are used when it is 'builtin'",
            file=sys.stderr,
        )

    async def main() -> None:
        db = Database(url, pool_size=1)
        try:
            await work(args, Directory(db, passwords(settings)))
        finally:
            await db.aclose()

    try:
        asyncio.run(main())
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(f"glimpse: database error (run 'glimpse db upgrade'?): {exc}", file=sys.stderr)
        return 2
    return 0


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def _password(args: argparse.Namespace) -> str:
    """From --password, else asked twice on a terminal, else the first line of stdin."""
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise GlimpseError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


# --------------------------------------------------------------------- commands


async def _user_create(args: argparse.Namespace, directory: Directory) -> None:
    user = await directory.create_user(
        args.name, _password(args), domain=args.domain, enabled=not args.disabled
    )
    print(user.id)


async def _user_list(args: argparse.Namespace, directory: Directory) -> None:
    users = await directory.list_users(domain=args.domain)
    _table(
        ("ID", "NAME", "DOMAIN", "ENABLED"),
        [(u.id, u.name, u.domain.name, str(u.enabled).lower()) for u in users],
    )


async def _user_set_password(args: argparse.Namespace, directory: Directory) -> None:
    await directory.set_password(args.name, _password(args), domain=args.domain)


async def _user_enable(args: argparse.Namespace, directory: Directory) -> None:
    await directory.set_enabled(args.name, True, domain=args.domain)


async def _user_disable(args: argparse.Namespace, directory: Directory) -> None:
    await directory.set_enabled(args.name, False, domain=args.domain)


async def _user_delete(args: argparse.Namespace, directory: Directory) -> None:
    await directory.delete_user(args.name, domain=args.domain)


async def _project_create(args: argparse.Namespace, directory: Directory) -> None:
    project = await directory.create_project(
        args.name, domain=args.domain, description=args.description
    )
    print(project.id)


async def _project_list(args: argparse.Namespace, directory: Directory) -> None:
    projects = await directory.list_projects(domain=args.domain)
    _table(
        ("ID", "NAME", "DOMAIN", "ENABLED"),
        [(p.id, p.name, p.domain.name, str(p.enabled).lower()) for p in projects],
    )


async def _project_delete(args: argparse.Namespace, directory: Directory) -> None:
    await directory.delete_project(args.name, domain=args.domain)


async def _role_add(args: argparse.Namespace, directory: Directory) -> None:
    await directory.grant(
        args.role,
        user=args.user,
        project=args.project,
        user_domain=args.user_domain,
        project_domain=args.project_domain,
    )


async def _role_remove(args: argparse.Namespace, directory: Directory) -> None:
    await directory.revoke(
        args.role,
        user=args.user,
        project=args.project,
        user_domain=args.user_domain,
        project_domain=args.project_domain,
    )


async def _role_list(args: argparse.Namespace, directory: Directory) -> None:
    roles = await directory.list_roles()
    _table(("ID", "NAME"), sorted(((r.id, r.name) for r in roles), key=lambda row: row[1]))


async def _role_assignments(args: argparse.Namespace, directory: Directory) -> None:
    assignments = await directory.list_assignments(
        user=args.user,
        project=args.project,
        user_domain=args.user_domain,
        project_domain=args.project_domain,
    )
    rows = sorted((a.role.name, a.user.name, a.project.name) for a in assignments)
    _table(("ROLE", "USER", "PROJECT"), rows)


async def _role_create(args: argparse.Namespace, directory: Directory) -> None:
    print((await directory.create_role(args.name)).id)


# ----------------------------------------------------------------------- parser


def add_identity_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], settings_of: SettingsOf
) -> None:
    """``user``, ``project`` and ``role`` subcommands, on the settings ``settings_of``
    makes from the parsed arguments."""

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser], name: str, work: Work, doc: str
    ) -> argparse.ArgumentParser:
        parser = group.add_parser(name, help=doc)
        parser.set_defaults(func=partial(_run, settings_of, work))
        return parser

    def named(parser: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
        parser.add_argument("name", help=f"{what} name or id")
        parser.add_argument("--domain", help="domain name or id (default: Default)")
        return parser

    def with_password(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--password", help="(default: asked, or read from stdin)")

    def group(name: str, doc: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = sub.add_parser(name, help=f"built-in identity: {doc}")
        return parser.add_subparsers(dest=f"{name}_command", required=True)

    clouds = sub.add_parser(
        "clouds-yaml", help="built-in identity: print a clouds.yaml for this endpoint"
    )
    clouds.set_defaults(func=partial(cmd_clouds_yaml, settings_of))

    users = group("user", "users")
    create = named(command(users, "create", _user_create, "create a user"), "user")
    with_password(create)
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    command(users, "list", _user_list, "list users").add_argument("--domain")
    with_password(
        named(
            command(users, "set-password", _user_set_password, "set a password (voids tokens)"),
            "user",
        )
    )
    named(command(users, "enable", _user_enable, "enable a user"), "user")
    named(command(users, "disable", _user_disable, "disable a user (voids tokens)"), "user")
    named(command(users, "delete", _user_delete, "delete a user"), "user")

    projects = group("project", "projects")
    create = named(command(projects, "create", _project_create, "create a project"), "project")
    create.add_argument("--description", default="")
    command(projects, "list", _project_list, "list projects").add_argument("--domain")
    named(command(projects, "delete", _project_delete, "delete a project"), "project")

    roles = group("role", "roles")
    for verb, work in (("add", _role_add), ("remove", _role_remove)):
        change = command(roles, verb, work, f"{verb} a role of a user on a project")
        change.add_argument("role")
        change.add_argument("--user", required=True, help="user name or id")
        change.add_argument("--project", required=True, help="project name or id")
        change.add_argument("--user-domain", help="the user's domain (default: Default)")
        change.add_argument("--project-domain", help="the project's domain (default: Default)")
    command(roles, "list", _role_list, "list roles")
    listing = command(roles, "assignments", _role_assignments, "list who holds which role where")
    for option in ("--user", "--project", "--user-domain", "--project-domain"):
        listing.add_argument(option)
    command(roles, "create", _role_create, "create a role").add_argument("name")
