"""``glimpse limits set|show|unset PROJECT``: the unified limits of one project under
the built-in identity (keystone mode reads Keystone's instead), on the same settings as
the server. Sizes are MiB, -1 is unlimited; a resource without a project limit has its
registered default (``registered_limits``), else 0."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from glimpse.cli.identity import passwords
from glimpse.cli.images import run_with_database
from glimpse.config import UNIFIED_LIMITS, Settings
from glimpse.db.engine import Database
from glimpse.errors import GlimpseError
from glimpse.identity.directory import Directory
from glimpse.quotas.limits import LocalLimits
from glimpse.stores.registry import StoreRegistry

SettingsOf = Callable[[argparse.Namespace], Settings]


def _assignments(pairs: list[str]) -> dict[str, int]:
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in UNIFIED_LIMITS:
            known = ", ".join(UNIFIED_LIMITS)
            raise ValueError(f"expected RESOURCE=LIMIT (RESOURCE: {known}), not {pair!r}")
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{name}: the limit must be a whole number, not {text!r}") from None
        if value < -1:
            raise ValueError(f"{name}: the limit must be -1 (unlimited) or more, not {value}")
        values[name] = value
    return values


def _warn_if_unused(settings: Settings) -> None:
    if settings.auth_mode == "keystone":
        print("glimpse: note: auth_mode is keystone; the limits are Keystone's", file=sys.stderr)
    elif not settings.use_keystone_limits:
        print("glimpse: note: use_keystone_limits is off; no limit is enforced", file=sys.stderr)


async def _project_id(project: str, settings: Settings, db: Database) -> str:
    """Under the built-in identity a project may be named (in any domain); an id, or
    any project of another identity mode, is taken as it is."""
    if settings.auth_mode != "builtin":
        return project
    projects = await Directory(db, passwords(settings)).list_projects()
    named = [p.id for p in projects if project in (p.id, p.name)]
    if len(named) > 1:
        raise GlimpseError(f"several projects are named {project!r}: give its id")
    return named[0] if named else project


async def _set(args: argparse.Namespace, settings: Settings, db: Database, _: StoreRegistry) -> int:
    project = await _project_id(args.project, settings, db)
    await LocalLimits(db, settings).set(project, args.values)
    _warn_if_unused(settings)
    return await _print(project, settings, db)


async def _unset(
    args: argparse.Namespace, settings: Settings, db: Database, _: StoreRegistry
) -> int:
    project = await _project_id(args.project, settings, db)
    await LocalLimits(db, settings).unset(project, args.names)
    return await _print(project, settings, db)


async def _show(
    args: argparse.Namespace, settings: Settings, db: Database, _: StoreRegistry
) -> int:
    return await _print(await _project_id(args.project, settings, db), settings, db)


async def _print(project: str, settings: Settings, db: Database) -> int:
    print(f"project {project}")
    print(f"{'resource':<24}{'limit':>12}  {'from':<12}{'usage':>10}")
    for name, limit, source, usage in await LocalLimits(db, settings).described(project):
        print(f"{name:<24}{limit:>12}  {source:<12}{usage:>10}")
    return 0


def add_limits_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], settings_of: SettingsOf
) -> None:
    limits = sub.add_parser("limits", help="a project's unified limits (built-in identity)")
    limits_sub = limits.add_subparsers(dest="limits_command", required=True)

    def run(work: Callable[..., object]) -> Callable[[argparse.Namespace], int]:
        return lambda args: run_with_database(settings_of, work, args)  # type: ignore[arg-type]

    show = limits_sub.add_parser("show", help="limits, where they come from, and usage")
    show.add_argument("project", help="project id (built-in identity: or name)")
    show.set_defaults(func=run(_show))

    set_ = limits_sub.add_parser(
        "set", help="set limits: RESOURCE=LIMIT (MiB for sizes; -1: unlimited)"
    )
    set_.add_argument("project", help="project id (built-in identity: or name)")
    set_.add_argument("values", nargs="+", metavar="RESOURCE=LIMIT")
    set_.set_defaults(func=_parsed(run(_set)))

    unset = limits_sub.add_parser("unset", help="back to the registered default")
    unset.add_argument("project", help="project id (built-in identity: or name)")
    unset.add_argument("names", nargs="+", metavar="RESOURCE", choices=UNIFIED_LIMITS)
    unset.set_defaults(func=run(_unset))


def _parsed(then: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn RESOURCE=LIMIT words into numbers first (exit 2 on a bad one)."""

    def parse(args: argparse.Namespace) -> int:
        try:
            args.values = _assignments(args.values)
        except ValueError as exc:
            print(f"glimpse: {exc}", file=sys.stderr)
            return 2
        return then(args)

    return parse
