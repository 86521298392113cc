"""Operator commands on stored images, on the same settings as the server:
``glimpse image restore|scrub`` (delayed delete: Glance's ``glance-scrubber --restore`` and
a one-off scrubber run) and ``glimpse verify`` (stored data against its checksums; exit
status 3 when it finds anything, 1 when a pass is running on another node already)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError

from glimpse.config import ConfigurationError, Settings
from glimpse.db.engine import Database
from glimpse.errors import GlimpseError
from glimpse.image_data.verification import VERIFY_JOB, Verifier
from glimpse.images.removal import DataRemoval
from glimpse.images.scrubber import Scrubber
from glimpse.stores.registry import StoreRegistry, build_stores
from glimpse.tasks.leases import JobLease

SettingsOf = Callable[[argparse.Namespace], Settings]
Work = Callable[[argparse.Namespace, Settings, Database, StoreRegistry], Awaitable[int]]


def run_with_database(settings_of: SettingsOf, work: Work, args: argparse.Namespace) -> int:
    """``work`` with the database (migrated if embedded) and the stores of the settings."""
    from glimpse.db import migrate

    settings = settings_of(args)
    try:
        migrate.prepare(settings.resolved_database_url)
        stores = build_stores(settings)
    except ConfigurationError as exc:
        print(f"glimpse: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        db = Database(settings.resolved_database_url, pool_size=2)
        try:
            return await work(args, settings, db, stores)
        finally:
            await db.aclose()

    try:
        return asyncio.run(main())
    except GlimpseError as exc:
        print(f"glimpse: {exc.message}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(f"glimpse: database error (run 'glimpse db upgrade'?): {exc}", file=sys.stderr)
        return 2


async def _restore(
    args: argparse.Namespace, settings: Settings, db: Database, stores: StoreRegistry
) -> int:
    scrubber = Scrubber(db, DataRemoval(db, stores), settings)
    for image_id in args.image_ids:
        await scrubber.restore(image_id)
        print(f"restored {image_id}")
    return 0


async def _verify(
    args: argparse.Namespace, settings: Settings, db: Database, stores: StoreRegistry
) -> int:
    verifier = Verifier(db, stores)
    lease = JobLease(db, VERIFY_JOB, lease_seconds=settings.task_lease_seconds)
    report = await lease.run_now(
        lambda: verifier.run(
            fix=args.fix,
            grace_seconds=args.grace if args.grace is not None else settings.verify_grace_seconds,
            rate_mb_s=args.rate if args.rate is not None else settings.verify_rate_limit_mb_s,
        )
    )
    summary = report.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for finding in report.findings:
            fixed = " (fixed)" if finding.fixed else ""
            print(f"{finding.kind:9} {finding.image_id or '-':36} {finding.location}"
                  f"  {finding.detail}{fixed}")  # fmt: skip
        print(
            f"checked {summary['images_checked']} images, {summary['bytes_read']} bytes in "
            f"{summary['seconds']} s: {summary['corrupted']} corrupted, {summary['missing']} "
            f"missing, {summary['orphans']} orphans"
        )
    return 0 if report.clean else 3


async def _scrub(
    args: argparse.Namespace, settings: Settings, db: Database, stores: StoreRegistry
) -> int:
    for image_id in await Scrubber(db, DataRemoval(db, stores), settings).run_once():
        print(f"scrubbed {image_id}")
    return 0


def add_image_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                       settings_of: SettingsOf) -> None:  # fmt: skip
    image = sub.add_parser("image", help="operate on stored images (delayed delete)")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    restore = image_sub.add_parser(
        "restore", help="bring pending_delete images back (glance-scrubber --restore)"
    )
    restore.add_argument("image_ids", nargs="+", metavar="IMAGE_ID")
    restore.set_defaults(func=lambda args: run_with_database(settings_of, _restore, args))
    verify = sub.add_parser(
        "verify", help="re-read stored data against checksums; find missing data and orphans"
    )
    verify.add_argument(
        "--fix",
        action="store_true",
        help="deactivate corrupted images, remove orphans older than --grace",
    )
    verify.add_argument("--grace", type=float, help="seconds (default: verify_grace_seconds)")
    verify.add_argument("--rate", type=float, help="MB/s at most (default: verify_rate_limit_mb_s)")
    verify.add_argument("--json", action="store_true", help="the report as JSON")
    verify.set_defaults(func=lambda args: run_with_database(settings_of, _verify, args))
    scrub = image_sub.add_parser("scrub", help="remove the data of pending_delete images now due")
    scrub.set_defaults(func=lambda args: run_with_database(settings_of, _scrub, args))
