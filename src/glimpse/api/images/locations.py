"""``/v2/images/{id}/locations`` (2.17): where an image's data is (``GET``, for
services), and a queued image's data named by a service (``POST``, the
``location_import`` task)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_body, json_response, reject_body
from glimpse.api.images.views import location_views
from glimpse.api.routing import Router
from glimpse.images.service import ImageService
from glimpse.imports.location_import import LocationImports


class LocationsApi:
    def __init__(self, images: ImageService, imports: LocationImports, multi_store: bool) -> None:
        self.images = images
        self.imports = imports
        self.multi_store = multi_store

    def register(self, router: Router) -> None:
        router.add("/v2/images/{image_id}/locations", {"GET": self.index, "POST": self.add})

    async def index(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        found = await self.images.locations(context_of(request), image_id)
        return json_response(location_views(found, self.multi_store))

    async def add(self, request: Request, image_id: str) -> Response:
        await self.imports.add(context_of(request), image_id, await json_body(request))
        # Glance's api-ref says 200; Glance answers 202
        return Response(status_code=202)
