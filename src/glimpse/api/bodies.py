"""Small HTTP helpers shared by the resource modules: bodies in, JSON out, context."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from glimpse.errors import InvalidInput, LimitExceeded
from glimpse.model.context import RequestContext

CONTEXT_KEY = "glimpse.context"
_BODY_ENCODINGS = frozenset({"chunked", "compress", "deflate", "gzip", "identity"})
# JSON documents (not image data) are small; this keeps a hostile one from filling memory
MAX_JSON_BODY = 4 << 20


def context_of(request: Request) -> RequestContext:
    context: RequestContext = request.scope[CONTEXT_KEY]
    return context


def has_body(request: Request) -> bool:
    """Glance's rule: a body exists if Content-Length > 0, or a POST/PUT/PATCH says it
    is sent with a transfer encoding."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            return int(length) > 0
        except ValueError:
            return True
    encoding = request.headers.get("transfer-encoding", "").lower()
    return request.method in ("POST", "PUT", "PATCH") and encoding in _BODY_ENCODINGS


async def reject_body(request: Request) -> None:
    """Routes that take no body answer 400 when one is sent."""
    if has_body(request):
        raise InvalidInput("This request does not take a body.")


async def json_body(request: Request) -> Any:
    if not has_body(request):
        raise InvalidInput("Body expected in request.")
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY:
            raise LimitExceeded(f"JSON request bodies are limited to {MAX_JSON_BODY} bytes.")
        parts.append(chunk)
    raw = b"".join(parts)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("Malformed JSON in request body.") from None
    if _has_nul(document):
        raise InvalidInput(NUL_MESSAGE)
    return document


# PostgreSQL cannot store or compare text holding U+0000; refusing it at the door keeps
# both database backends answering alike
NUL_MESSAGE = "Strings in requests must not contain NUL (U+0000) characters."


def _has_nul(document: Any) -> bool:
    """Whether any string (or object key) in a parsed JSON document holds U+0000.
    Iterative, since a document may nest deeper than Python's recursion limit."""
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


def json_response(
    content: Any, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, headers=headers,
        media_type="application/json",
    )  # fmt: skip


def no_content(headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=204, headers=headers)
