"""Schema migrations (Alembic): ``glimpse db upgrade``, and :func:`prepare` before any
command uses the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from glimpse.config import ConfigurationError
from glimpse.db.engine import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"


if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return str(found) if found is not None else None
    finally:
        engine.dispose()


def prepare(url: str) -> None:
    """Make the database ready for use: the embedded (SQLite) one is created or upgraded
    on the spot; any other must have been upgraded with ``glimpse db upgrade`` (an
    operator's step: several nodes must not race to migrate), else ConfigurationError.

    Migrations run in a child process, so that a serving process never loads Alembic
    (it would stay in memory for the life of every worker)."""
    if make_url(url).get_backend_name() == "sqlite":
        env = {**os.environ, "GLIMPSE_DATABASE_URL": url}
        subprocess.run(
            [sys.executable, "-m", "glimpse", "db", "upgrade"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    elif current(url) is None:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigurationError(
            f"database {shown} has no glimpse schema: run 'glimpse db upgrade' first"
        )
