"""Version discovery (``GET /``, ``GET /versions``) and version negotiation of paths."""

from __future__ import annotations

import orjson
from starlette.responses import Response

_OLDER = [(f"v2.{minor}", "SUPPORTED") for minor in range(7, -1, -1)]
# Glance's list for a deployment without cache and without multi-store, in its order.
VERSIONS: list[tuple[str, str]] = [
    ("v2.15", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.17", "CURRENT"),
    *_OLDER,
]
# ... and with multi-store (enabled_backends): 2.8 and 2.10-2.13 join (Glance 33's order)
MULTI_STORE_VERSIONS: list[tuple[str, str]] = [
    ("v2.15", "SUPPORTED"),
    *[(f"v2.{minor}", "SUPPORTED") for minor in range(13, 7, -1)],
    ("v2.17", "CURRENT"),
    *_OLDER,
]

# First path segments that mean "the v2 API": the versions listed, as Glance routes them.
V2_PREFIXES = frozenset({"v2", *(version for version, _ in VERSIONS)})
MULTI_STORE_V2_PREFIXES = frozenset({"v2", *(version for version, _ in MULTI_STORE_VERSIONS)})
_ACCEPT_PREFIX = "application/vnd.openstack.images-"


def versions_response(base_url: str, status_code: int, *, multi_store: bool = False) -> Response:
    href = base_url.rstrip("/") + "/v2/"
    body = {
        "versions": [
            {"id": version, "status": status, "links": [{"rel": "self", "href": href}]}
            for version, status in (MULTI_STORE_VERSIONS if multi_store else VERSIONS)
        ]
    }
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def negotiate(path: str, accept: str, *, multi_store: bool = False) -> tuple[str | None, int]:
    """Map a request path onto the v2 router.

    Returns ``(path for the router, 0)``, or ``(None, status)`` when the request gets the
    versions document instead (200 for ``/versions``, 300 otherwise).
    """
    prefixes = MULTI_STORE_V2_PREFIXES if multi_store else V2_PREFIXES
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
