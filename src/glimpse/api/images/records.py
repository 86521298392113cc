"""``/v2/images``: create, list, show, update, delete, deactivate/reactivate, tags."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_body, json_response, no_content, reject_body
from glimpse.api.images.json_patch import media_type, parse_patch
from glimpse.api.images.query import page_links, parse_image_query
from glimpse.api.images.views import image_view, location_views
from glimpse.api.routing import Router
from glimpse.config import Settings
from glimpse.errors import InvalidInput
from glimpse.images.service import ImageService
from glimpse.model.images import Image
from glimpse.stores.registry import StoreRegistry


class ImagesApi:
    def __init__(
        self, images: ImageService, settings: Settings, stores: StoreRegistry | None = None
    ) -> None:
        self.images = images
        self.settings = settings
        methods = ",".join(settings.enabled_import_methods)
        self._create_headers = {"OpenStack-image-import-methods": methods} if methods else {}
        # multi-store: which stores a client may name, and the `stores` attribute
        self._multi_store = stores is not None and stores.multi
        self._stores = stores
        if stores is not None and stores.multi:
            writable = ",".join(store.name for store in stores if store.writable)
            self._create_headers["OpenStack-image-store-ids"] = writable
        self._schema_properties = frozenset(images.schemas.image["properties"])

    def _view(self, image: Image) -> dict[str, object]:
        stores = image.stores
        if self._stores is not None and self._multi_store and stores:
            # Glance lists an image's stores by weight, highest first
            weight = self._stores.weight
            stores = sorted(stores, key=lambda name: -weight(name))
        # Glance's direct_url: the first location of the store it would read first
        direct_url = (
            image.store_urls[stores[0]] if self.settings.show_image_direct_url and stores else None
        )
        view = image_view(
            image,
            self._schema_properties,
            direct_url,
            location_views(image.locations, self._multi_store)
            if self.settings.show_multiple_locations
            else None,
        )
        if self._multi_store and stores:
            view["stores"] = ",".join(stores)
        return view

    def register(self, router: Router) -> None:
        router.add("/v2/images", {"GET": self.index, "POST": self.create})
        router.add(
            "/v2/images/{image_id}", {"GET": self.show, "PATCH": self.update, "DELETE": self.delete}
        )
        router.add("/v2/images/{image_id}/actions/deactivate", {"POST": self.deactivate})
        router.add("/v2/images/{image_id}/actions/reactivate", {"POST": self.reactivate})
        router.add(
            "/v2/images/{image_id}/tags/{tag}", {"PUT": self.add_tag, "DELETE": self.remove_tag}
        )

    async def create(self, request: Request) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("Body must be a JSON object describing the image.")
        image = await self.images.create(context_of(request), body)
        base = str(request.base_url).rstrip("/")
        headers = {"Location": f"{base}/v2/images/{image.id}", **self._create_headers}
        return json_response(self._view(image), 201, headers)

    async def index(self, request: Request) -> Response:
        # unlike show, Glance's list ignores a request body
        params = request.query_params
        query = parse_image_query(params, self.settings)
        found = await self.images.list_images(context_of(request), query)
        first, next_link = page_links(params, found.next_marker)
        page: dict[str, object] = {
            "images": [self._view(image) for image in found.images],
            "first": first,
            "schema": "/v2/schemas/images",
        }
        if next_link is not None:
            page["next"] = next_link
        return json_response(page)

    async def show(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        return json_response(self._view(await self.images.get(context_of(request), image_id)))

    async def update(self, request: Request, image_id: str) -> Response:
        dialect = media_type(request.headers.get("content-type"))
        ops = parse_patch(await json_body(request), dialect, self.images.check_patch_op)
        image = await self.images.update(context_of(request), image_id, ops)
        return json_response(self._view(image))

    async def delete(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        await self.images.delete(context_of(request), image_id)
        return no_content()

    async def deactivate(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        await self.images.deactivate(context_of(request), image_id)
        return no_content()

    async def reactivate(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        await self.images.reactivate(context_of(request), image_id)
        return no_content()

    async def add_tag(self, request: Request, image_id: str, tag: str) -> Response:
        await reject_body(request)
        await self.images.add_tag(context_of(request), image_id, tag)
        return no_content()

    async def remove_tag(self, request: Request, image_id: str, tag: str) -> Response:
        await reject_body(request)
        await self.images.remove_tag(context_of(request), image_id, tag)
        return no_content()
