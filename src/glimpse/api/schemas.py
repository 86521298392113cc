"""``/v2/schemas/*``: the same schemas requests are validated with."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import reject_body
from glimpse.api.routing import Router
from glimpse.images.schema import Schemas


class SchemasApi:
    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas

    def register(self, router: Router) -> None:
        for name in self.schemas.rendered:
            router.add(f"/v2/schemas/{name}", {"GET": self._serve(name)})

    def _serve(self, name: str):  # type: ignore[no-untyped-def]
        body = self.schemas.rendered[name]

        async def serve(request: Request) -> Response:
            await reject_body(request)
            return Response(body, media_type="application/json")

        return serve
