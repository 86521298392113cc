"""``PUT /v2/images/{id}/stage`` and ``POST /v2/images/{id}/import`` (interoperable
import)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_body
from glimpse.api.errors import UnsupportedMediaType
from glimpse.api.images.data import optional_int
from glimpse.api.routing import Router
from glimpse.image_data.staging import ImageStaging
from glimpse.imports.service import ImportService


class ImportsApi:
    def __init__(self, staging: ImageStaging, imports: ImportService) -> None:
        self.staging = staging
        self.imports = imports

    def register(self, router: Router) -> None:
        router.add("/v2/images/{image_id}/stage", {"PUT": self.stage})
        router.add("/v2/images/{image_id}/import", {"POST": self.start})

    async def stage(self, request: Request, image_id: str) -> Response:
        headers = request.headers
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/octet-stream":
            raise UnsupportedMediaType(
                f"The request media type {content_type or 'None'} is not supported by this "
                "server. Image data must be sent as application/octet-stream."
            )
        await self.staging.stage(
            context_of(request),
            image_id,
            request.stream(),
            optional_int(headers.get("x-openstack-image-size"), "x-openstack-image-size"),
            optional_int(headers.get("content-length"), "Content-Length"),
        )
        return Response(status_code=204)

    async def start(self, request: Request, image_id: str) -> Response:
        body = await json_body(request)
        await self.imports.start(
            context_of(request), image_id, body, request.headers.get("x-image-meta-store")
        )
        return Response(status_code=202)
