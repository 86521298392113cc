"""Where a project's limits come from: Keystone (unified limits, read with oslo.limit as
Glance reads them) or glimpse's own ``project_limits`` over the registered defaults of
the settings. A resource without any limit gets 0, as in Keystone; -1 is unlimited."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Protocol

from glimpse.config import Settings
from glimpse.db.engine import Database, UnitsOfWork
from glimpse.errors import BackendUnavailable
from glimpse.quotas.repository import LimitRepository
from glimpse.quotas.usage import RESOURCES, Usage, usage_of

log = logging.getLogger(__name__)


class LimitSource(Protocol):
    async def limits(self, project: str) -> dict[str, int]:
        """The limit of every resource of :data:`RESOURCES` for ``project``."""
        ...


class LocalLimits:
    """Per-project limits in the database (``glimpse limits set``), else the settings'
    ``registered_limits``, else 0."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.work = UnitsOfWork(db, LimitRepository)
        self.registered = dict(settings.registered_limits)

    async def limits(self, project: str) -> dict[str, int]:
        own = await self.work.read(lambda repo: repo.of(project))
        return {name: own.get(name, self.registered.get(name, 0)) for name in RESOURCES}

    # ------------------------------------------------ glimpse limits set|show|unset

    async def set(self, project: str, values: Mapping[str, int]) -> None:
        await self.work.write(lambda repo: repo.set(project, values))

    async def unset(self, project: str, names: Iterable[str]) -> int:
        return await self.work.write(lambda repo: repo.unset(project, names))

    async def described(self, project: str) -> list[tuple[str, int, str, int]]:
        """Each resource: its limit, where the limit comes from, the project's usage."""

        def read(repo: LimitRepository) -> tuple[dict[str, int], Usage]:
            return repo.of(project), usage_of(repo.conn, project)

        own, usage = await self.work.read(read)
        found = []
        for name in RESOURCES:
            if name in own:
                limit, source = own[name], "project"
            elif name in self.registered:
                limit, source = self.registered[name], "registered"
            else:
                limit, source = 0, "none"
            found.append((name, limit, source, usage.of(name)))
        return found


_configured = threading.Lock()
_configured_for: Settings | None = None


def configure_oslo_limit(settings: Settings) -> None:
    """oslo.limit reads oslo.config's global ``[oslo_limit]`` group: fill it from
    glimpse's Keystone settings (its service user; the endpoint by id, else the image
    service's in ``keystone_limits_region``)."""
    global _configured_for
    from keystoneauth1 import loading
    from oslo_config import cfg
    from oslo_limit import opts

    conf = cfg.CONF
    with _configured:
        if _configured_for is settings:
            return
        loading.register_auth_conf_options(conf, "oslo_limit")
        conf.set_override("auth_type", "password", "oslo_limit")
        opts.register_opts(conf)
        values = {
            "auth_url": settings.keystone_auth_url,
            "username": settings.keystone_username,
            "password": settings.keystone_password,
            "project_name": settings.keystone_project_name,
            "user_domain_name": settings.keystone_user_domain_name,
            "project_domain_name": settings.keystone_project_domain_name,
            "timeout": settings.keystone_timeout_seconds,
            "endpoint_id": settings.keystone_limits_endpoint_id,
            "endpoint_service_type": "image",
            "endpoint_region_name": settings.keystone_limits_region,
        }
        for name, value in values.items():
            conf.set_override(name, value, "oslo_limit")
        _configured_for = settings


class KeystoneLimits:
    """Keystone's registered and project limits of the image service's endpoint, read
    afresh for each check (as Glance: a limit changed in Keystone counts at once)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def limits(self, project: str) -> dict[str, int]:
        return await asyncio.to_thread(self._read, project)

    def _read(self, project: str) -> dict[str, int]:
        from keystoneauth1 import exceptions as ksa_exceptions
        from oslo_limit import exception as ol_exceptions
        from oslo_limit import limit

        configure_oslo_limit(self.settings)
        try:
            enforcer = limit.Enforcer(lambda _project, names: dict.fromkeys(names, 0))
            return dict(enforcer.get_project_limits(project, RESOURCES))
        except (ksa_exceptions.ConnectionError, ol_exceptions.SessionInitError) as exc:
            # never a free pass: without its limits, the request is refused
            log.error("unified limits: Keystone's limits cannot be read: %s", exc)
            raise BackendUnavailable(
                f"The limits of project {project} cannot be read now."
            ) from None
