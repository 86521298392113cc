"""Version discovery (``GET /``, ``GET /versions``) and version negotiation of paths."""

from __future__ import annotations

import orjson
from starlette.responses import Response

_OLDER = [(f"v2.{minor}", "SUPPORTED") for minor in range(7, -1, -1)]


def version_list(*, multi_store: bool = False, cache: bool = False) -> list[tuple[str, str]]:
    """The versions a deployment serves, in Glance 33's order: the cache API (2.14, 2.16,
    2.18) only with an image cache, multi-store's 2.8 and 2.10-2.13 only with several
    stores."""
    if cache:
        found = [("v2.18", "CURRENT"), *[(f"v2.{m}", "SUPPORTED") for m in range(17, 13, -1)]]
    else:
        found = [("v2.15", "SUPPORTED")]
    found += [(f"v2.{m}", "SUPPORTED") for m in (range(13, 7, -1) if multi_store else (9,))]
    if not cache:
        found.append(("v2.17", "CURRENT"))
    return [*found, *_OLDER]


_ACCEPT_PREFIX = "application/vnd.openstack.images-"


def versions_response(base_url: str, status_code: int, versions: list[tuple[str, str]]) -> Response:
    href = base_url.rstrip("/") + "/v2/"
    body = {
        "versions": [
            {"id": version, "status": status, "links": [{"rel": "self", "href": href}]}
            for version, status in versions
        ]
    }
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def negotiate(path: str, accept: str, prefixes: frozenset[str]) -> tuple[str | None, int]:
    """Map a request path onto the v2 router; ``prefixes``: the first path segments that
    mean the v2 API (``v2`` and each version served).

    Returns ``(path for the router, 0)``, or ``(None, status)`` when the request gets the
    versions document instead (200 for ``/versions``, 300 otherwise).
    """
    first, _, rest = path.lstrip("/").partition("/")
    if first == "versions":
        return None, 200
    if first in prefixes:
        return ("/v2/" + rest if rest or path.endswith("/") else "/v2"), 0
    if accept.startswith(_ACCEPT_PREFIX):
        wanted = accept[len(_ACCEPT_PREFIX) :].split(",")[0].split(";")[0].strip()
        if wanted in prefixes:
            return "/v2" + path, 0
    return None, 300
