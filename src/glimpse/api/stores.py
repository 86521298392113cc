"""The named stores (Glance's multi-store): ``/v2/info/stores[/detail]`` and
``DELETE /v2/stores/{store_id}/{image_id}``. Without multi-store all of them are 404,
as in Glance."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_response, no_content, reject_body
from glimpse.api.routing import Router
from glimpse.auth.policy import Policy
from glimpse.errors import NotFound, NotPermitted
from glimpse.image_data.store_copies import StoreCopies
from glimpse.stores.registry import StoreRegistry


class StoresApi:
    def __init__(self, stores: StoreRegistry, copies: StoreCopies, policy: Policy) -> None:
        self.stores = stores
        self.copies = copies
        self.policy = policy

    def register(self, router: Router) -> None:
        router.add("/v2/info/stores", {"GET": self.index})
        router.add("/v2/info/stores/detail", {"GET": self.detail})
        router.add("/v2/stores/{store_id}/{image_id}", {"DELETE": self.remove_copy})

    async def _entries(self, detail: bool) -> list[dict[str, Any]]:
        if not self.stores.multi:
            raise NotFound("The resource could not be found.")
        entries = []
        for store in self.stores:
            section = self.stores.sections.get(store.name)
            entry: dict[str, Any] = {"id": store.name}
            if detail:
                entry["type"] = section.type if section is not None else "file"
            if section is not None and section.description:
                entry["description"] = section.description
            if store is self.stores.default:
                entry["default"] = "true"
            if not store.writable:
                entry["read-only"] = "true"
            if detail:
                entry["weight"] = self.stores.weight(store.name)
                entry["properties"] = await store.properties()
            entries.append(entry)
        return entries

    async def index(self, request: Request) -> Response:
        await reject_body(request)
        return json_response({"stores": await self._entries(detail=False)})

    async def detail(self, request: Request) -> Response:
        await reject_body(request)
        if not self.policy.allows("stores_info_detail", context_of(request), {}):
            raise NotPermitted("You are not authorized to complete stores_info_detail action.")
        return json_response({"stores": await self._entries(detail=True)})

    async def remove_copy(self, request: Request, store_id: str, image_id: str) -> Response:
        await reject_body(request)
        await self.copies.remove_copy(context_of(request), store_id, image_id)
        return no_content()
