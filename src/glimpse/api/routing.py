"""A small router with Glance's rules: unknown path → 404; known path, other method → 405
with ``Allow`` (HEAD is not GET); a method nobody serves on an unknown path → 501."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from glimpse.api.bodies import NUL_MESSAGE
from glimpse.api.errors import MethodNotAllowed, MethodNotImplemented
from glimpse.errors import InvalidInput, NotFound

Handler = Callable[..., Awaitable[Response]]

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})


@dataclass(frozen=True, slots=True)
class Route:
    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    template: str  # as registered: /v2/images/{image_id} (a metric label)


# where the router tells whoever measures the request which route it took: a dict the
# front door puts in the scope (scope copies made on the way share it)
LABELS_KEY = "glimpse.labels"


def _compile(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path)
    return re.compile(f"^{regex}$")


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._static: dict[str, Route] = {}

    def add(self, path: str, methods: dict[str, Handler]) -> None:
        route = Route(_compile(path), methods, path)
        if "{" in path:
            self._routes.append(route)
        else:
            self._static[path] = route

    def match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._static.get(path)
        if route is not None:
            return route, {}
        for route in self._routes:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.dispatch(Request(scope, receive, send))
        await response(scope, receive, send)

    async def dispatch(self, request: Request) -> Response:
        method = request.method
        found = self.match(request.url.path)
        if found is None:
            if method not in KNOWN_METHODS:
                raise MethodNotImplemented(
                    f"The request method {method} is not implemented for this server."
                )
            raise NotFound("The resource could not be found.")
        route, params = found
        labels = request.scope.get(LABELS_KEY)
        if labels is not None:
            labels["route"] = route.template
        handler = route.methods.get(method)
        if handler is None:
            raise MethodNotAllowed(
                f"The method {method} is not allowed for this resource.",
                headers={"Allow": ", ".join(route.methods)},
            )
        # path and query values reach the database, which cannot hold U+0000
        if "\x00" in request.url.path or "\x00" in unquote(request.url.query):
            raise InvalidInput(NUL_MESSAGE)
        return await handler(request, **params)
