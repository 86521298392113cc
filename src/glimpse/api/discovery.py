"""``/v2/info/*``: what this deployment offers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_response, reject_body
from glimpse.api.routing import Router
from glimpse.config import Settings
from glimpse.quotas.enforcer import Quotas


class DiscoveryApi:
    def __init__(self, settings: Settings, quotas: Quotas) -> None:
        self.settings = settings
        self.quotas = quotas

    def register(self, router: Router) -> None:
        router.add("/v2/info/import", {"GET": self.import_methods})
        router.add("/v2/info/usage", {"GET": self.usage})

    async def usage(self, request: Request) -> Response:
        """The caller's project's unified limits and usage (2.13); {} when off."""
        await reject_body(request)
        context = context_of(request)
        return json_response({"usage": await self.quotas.usage(context.project_id)})

    async def import_methods(self, request: Request) -> Response:
        await reject_body(request)
        return json_response(
            {
                "import-methods": {
                    "description": "Import methods available.",
                    "type": "array",
                    "value": list(self.settings.enabled_import_methods),
                }
            }
        )
