"""``/v2/cache…`` (2.14, 2.16, 2.18): this node's image cache, for admins. The policy is
asked first (non-admins: 403 even where caching is off), then a node without a cache
answers 404, as Glance."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from glimpse.api.bodies import context_of, json_response, reject_body
from glimpse.api.routing import Router
from glimpse.auth.policy import Policy
from glimpse.cache.service import ImageCache
from glimpse.errors import NotFound
from glimpse.model.context import RequestContext


class CacheApi:
    def __init__(self, cache: ImageCache | None, policy: Policy) -> None:
        self.cache = cache
        self.policy = policy

    def register(self, router: Router) -> None:
        router.add("/v2/cache", {"GET": self.index, "DELETE": self.clear})
        router.add("/v2/cache/clean", {"POST": self.clean})
        router.add("/v2/cache/prune", {"POST": self.prune})
        router.add("/v2/cache/nodes/{image_id}", {"GET": self.nodes})
        router.add("/v2/cache/{image_id}", {"PUT": self.queue, "DELETE": self.delete})

    def _on(self, context: RequestContext, rule: str) -> ImageCache:
        self.policy.require(rule, context, {"project_id": context.project_id})
        if self.cache is None:
            raise NotFound("Caching via API is not supported at this site.")
        return self.cache

    async def index(self, request: Request) -> Response:
        await reject_body(request)
        entries, queued = await self._on(context_of(request), "cache_list").state()
        return json_response(
            {
                "cached_images": [
                    {
                        "image_id": entry.image_id,
                        "hits": entry.hits,
                        "last_accessed": entry.last_accessed,
                        "last_modified": entry.last_modified,
                        "size": entry.size,
                    }
                    for entry in entries
                ],
                "queued_images": queued,
            }
        )

    async def queue(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        context = context_of(request)
        await self._on(context, "cache_image").queue(context, image_id)
        return Response(status_code=202)

    async def delete(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        context = context_of(request)
        await self._on(context, "cache_delete").delete(context, image_id)
        return Response(status_code=204)

    async def clear(self, request: Request) -> Response:
        await reject_body(request)
        context = context_of(request)
        target = request.headers.get("x-image-cache-clear-target", "").strip().lower()
        await self._on(context, "cache_delete").clear(target)
        return Response(status_code=204)

    async def nodes(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        context = context_of(request)
        return json_response(await self._on(context, "list_cached_nodes").nodes(context, image_id))

    async def clean(self, request: Request) -> Response:
        await reject_body(request)
        context = context_of(request)
        await self._on(context, "cache_clean").clean()
        return Response(status_code=200)

    async def prune(self, request: Request) -> Response:
        await reject_body(request)
        context = context_of(request)
        files, pruned = await self._on(context, "cache_prune").prune()
        return json_response({"total_files_pruned": files, "total_bytes_pruned": pruned})
