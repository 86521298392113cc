"""``glimpse metadefs load|unload|export``: the metadata definitions catalog as files in
Glance's format (what ``glance-manage db load_metadefs`` and friends do)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glimpse.config import ConfigurationError, Settings


def _database(settings: Settings) -> Any:
    from glimpse.db import migrate
    from glimpse.db.engine import Database

    migrate.prepare(settings.resolved_database_url)
    return Database(settings.resolved_database_url)


def _run(settings_of: Callable[[argparse.Namespace], Settings], work: Callable[[Any], str]) -> Any:
    def command(args: argparse.Namespace) -> int:
        try:
            db = _database(settings_of(args))
            print(work((db, args)))
        except ConfigurationError as exc:
            print(f"glimpse metadefs: {exc}", file=sys.stderr)
            return 2
        return 0

    return command


def _load(given: Any) -> str:
    from glimpse.metadefs import catalog

    db, args = given
    report = catalog.load(
        db, Path(args.path), merge=args.merge, prefer_new=args.prefer_new, overwrite=args.overwrite
    )
    return (
        f"loaded {len(report.loaded)} namespace(s), merged {len(report.merged)}, "
        f"skipped {len(report.skipped)} already present"
        + (f": {', '.join(report.skipped)}" if report.skipped else "")
    )


def _unload(given: Any) -> str:
    from glimpse.metadefs import catalog

    db, _ = given
    return f"unloaded {catalog.unload(db)} namespace(s)"


def _export(given: Any) -> str:
    from glimpse.metadefs import catalog

    db, args = given
    return f"exported {len(catalog.export(db, Path(args.path)))} namespace(s) to {args.path}"


def add_metadefs_commands(sub: Any, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    metadefs = sub.add_parser("metadefs", help="the metadata definitions catalog (Glance's files)")
    md_sub = metadefs.add_subparsers(dest="metadefs_command", required=True)
    load = md_sub.add_parser("load", help="load a directory of metadefs JSON files")
    load.add_argument("path", help="directory of *.json files (e.g. Glance's etc/metadefs)")
    load.add_argument("--merge", action="store_true", help="merge into namespaces already present")
    load.add_argument(
        "--prefer-new", dest="prefer_new", action="store_true",
        help="when merging, the files' values replace the catalog's",
    )  # fmt: skip
    load.add_argument(
        "--overwrite", action="store_true",
        help="without --merge: replace namespaces already present",
    )  # fmt: skip
    load.set_defaults(func=_run(settings_of, _load))
    unload = md_sub.add_parser("unload", help="remove the whole catalog")
    unload.set_defaults(func=_run(settings_of, _unload))
    export = md_sub.add_parser("export", help="write each namespace to a directory as a file")
    export.add_argument("path", help="directory to write into")
    export.set_defaults(func=_run(settings_of, _export))
