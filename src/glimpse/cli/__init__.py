"""``glimpse`` command line: serve the API, manage the database (and, in
``cli_identity``, the built-in identity's users, projects and roles)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import tomllib
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from glimpse import logs
from glimpse.cli.identity import add_identity_commands, first_start
from glimpse.cli.images import add_image_commands
from glimpse.cli.limits import add_limits_commands
from glimpse.cli.metadefs import add_metadefs_commands
from glimpse.config import ConfigurationError, Settings, default_data_dir


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "config", None):
        os.environ["GLIMPSE_CONFIG"] = args.config
    # Options given on the command line travel to worker processes as GLIMPSE_* vars.
    for name in ("host", "port", "workers", "data_dir", "access_log"):
        value = getattr(args, name, None)
        if value is not None:
            os.environ[f"GLIMPSE_{name.upper()}"] = str(value)
    return Settings()


# what can stop a start, each told in one line (startup_problem)
STARTUP_ERRORS = (ValidationError, ConfigurationError, tomllib.TOMLDecodeError, OSError)


def startup_problem(exc: Exception) -> str:
    """One line that names the setting or file at fault."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"{os.environ.get('GLIMPSE_CONFIG')}: not valid TOML: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split())


def bind_listener(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is written (a port another process
    holds stops the start before the admin user, keys and clouds.yaml are made for an
    endpoint that would never answer), and handed to the HTTP server as it is."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener.set_inheritable(True)  # worker processes serve on it too
    return listener


def check_settings(settings: Settings) -> None:
    """Fail before serving on what would fail in every worker (e.g. a broken policy file)."""
    from glimpse.app import build_policy, read_protections

    build_policy(settings, read_protections(settings))
    if settings.auth_mode == "keystone":
        from glimpse.auth.keystone import check_keystone_settings

        check_keystone_settings(settings)
    if "image_conversion" in settings.image_import_plugins:
        from glimpse.imports.conversion import check_tools

        check_tools()


def prepare_metrics(settings: Settings) -> None:
    """With several workers, each keeps its metric values in files that a scrape adds
    up (prometheus_client's multiprocess mode): name an empty directory for them before
    prometheus_client is first imported, here or in any worker."""
    if settings.metrics == "off" or settings.workers <= 1:
        return
    directory = settings.metrics_dir or settings.data_dir / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def serve_metrics(settings: Settings) -> None:
    """The separate metrics listener (``metrics = "listener"``), in this process."""
    from prometheus_client import start_http_server

    from glimpse.app import build_metrics_registry
    from glimpse.db.engine import Database

    db = Database(settings.resolved_database_url, pool_size=1)
    start_http_server(
        settings.metrics_port, settings.metrics_host, registry=build_metrics_registry(db)
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from glimpse.db import migrate
    from glimpse.edge.limits import raise_open_files_limit
    from glimpse.edge.protocol import EdgeProtocol

    try:
        settings = _settings(args)
        prepare_metrics(settings)
        check_settings(settings)
        settings.make_data_dir()
        listener = bind_listener(settings.host, settings.port)  # before anything is written
    except STARTUP_ERRORS as exc:
        print(f"glimpse: cannot start: {startup_problem(exc)}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    log = logging.getLogger("glimpse")
    url = settings.resolved_database_url
    try:
        migrate.prepare(url)
    except ConfigurationError as exc:
        log.error("%s", exc)
        return 2
    if settings.auth_mode == "builtin":
        first_start(settings, log)
    if settings.auth_mode == "noauth":
        log.warning(
            "auth_mode = noauth: every request is trusted; requests without identity headers "
            "act as admin. Never expose this server beyond a test machine."
        )
    # the port is bound: clients that connect from now on are served
    log.info(
        "glimpse serving on http://%s:%s (data in %s, database %s, %d worker(s))",
        settings.host,
        settings.port,
        settings.data_dir,
        make_url(url).render_as_string(hide_password=True),
        settings.workers,
    )
    if settings.metrics == "listener":
        serve_metrics(settings)
    raise_open_files_limit()
    config = uvicorn.Config(
        "glimpse.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        loop="uvloop",
        http=EdgeProtocol,  # uvicorn's httptools protocol with glimpse's limits
        timeout_keep_alive=settings.http_keepalive_timeout_seconds,
        ws="none",  # nothing speaks WebSocket; an upgrade is answered as plain HTTP
        access_log=False,  # glimpse writes its own (settings.access_log)
        log_config=None,  # uvicorn's lines go through glimpse's format
        log_level=settings.log_level.lower(),
        lifespan="on",
        server_header=False,
        date_header=True,
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        if config.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[listener]).run()
        else:
            server.run(sockets=[listener])
    if config.workers == 1 and not server.started:
        return 3  # the application did not start (its error is logged)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from glimpse.db import migrate

    settings = _settings(args)
    migrate.upgrade(settings.resolved_database_url, args.revision)
    print(f"database at revision {migrate.current(settings.resolved_database_url)}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from glimpse.db import migrate

    settings = _settings(args)
    print(migrate.current(settings.resolved_database_url) or "(empty)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run task workers alone (imports, copies), without serving the API."""
    import asyncio

    from glimpse.app import Glimpse
    from glimpse.db import migrate

    try:
        settings = _settings(args)
        check_settings(settings)
    except (ValidationError, ConfigurationError) as exc:
        print(f"glimpse: cannot start: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    settings.make_data_dir()
    try:
        migrate.prepare(settings.resolved_database_url)
    except ConfigurationError as exc:
        logging.getLogger("glimpse").error("%s", exc)
        return 2

    async def work() -> None:
        app = Glimpse(settings)
        logging.getLogger("glimpse").info("glimpse worker %s ready", app.worker.node)
        try:
            await app.worker.run_forever()
        finally:
            await app.shutdown()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="glimpse", description="OpenStack Image service (API v2)")
    root.add_argument("--config", help="TOML settings file (also GLIMPSE_CONFIG)")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="serve the Image API",
        description="Serve the Image API. Options override the settings file and GLIMPSE_* "
        "variables; every setting is described in the README.",
    )
    # given after the command too (`glimpse serve --config x.toml`); SUPPRESS keeps an
    # absent one from hiding the one given before the command
    serve.add_argument(
        "--config", default=argparse.SUPPRESS, help="TOML settings file (also GLIMPSE_CONFIG)"
    )
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on, 1-65535 (default: 9292)")
    serve.add_argument("--workers", type=int, help="worker processes, 1-256 (default: 1)")
    serve.add_argument(
        "--data-dir",
        dest="data_dir",
        help="where the embedded database, image files and keys live, made 0700 "
        f"(default: {default_data_dir()})",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="one log line per request (default: on)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run task workers (imports) without the API")
    worker.add_argument("--data-dir", dest="data_dir")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=cmd_db_upgrade)
    cur = db_sub.add_parser("current", help="show the schema revision")
    cur.set_defaults(func=cmd_db_current)

    add_identity_commands(sub, _settings)
    add_metadefs_commands(sub, _settings)
    add_image_commands(sub, _settings)
    add_limits_commands(sub, _settings)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
