"""``/v2/info/*``: what this deployment offers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import json_response, reject_body
from glimpse.api.routing import Router
from glimpse.config import Settings


class DiscoveryApi:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def register(self, router: Router) -> None:
        router.add("/v2/info/import", {"GET": self.import_methods})

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
