"""The http store: read-only, for image data others serve at HTTP(S) URLs (locations
added through the location APIs). Glance's ``http`` store.

Every request goes through the web guard (``stores/web_guard.py``), at read time too:
a name that resolved to a public address when the location was added and to a private
one now is refused, not fetched. glimpse never writes here and never deletes what a URL
serves: the data belongs to whoever serves it.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from glimpse.errors import DataMissing, StoreUnavailable
from glimpse.stores.base import StoreWriter
from glimpse.stores.web_guard import UrlRefused, WebGuard

_GONE = frozenset({404, 410})
READ_CHUNK = 1 << 20


class HttpStore:
    writable = False

    def __init__(self, name: str, guard: WebGuard) -> None:
        self.name = name
        self.guard = guard
        settings = guard.settings
        self.timeout = httpx.Timeout(
            settings.web_download_read_timeout, connect=settings.web_download_connect_timeout
        )

    def handles(self, location: str) -> bool:
        return urlsplit(location).scheme.lower() in ("http", "https")

    async def writer(self, image_id: str, size_hint: int | None) -> StoreWriter:
        raise StoreUnavailable(f"Store {self.name} is read-only")

    async def _open(
        self, method: str, location: str, headers: dict[str, str] | None = None
    ) -> tuple[httpx.AsyncClient, httpx.Response]:
        client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, trust_env=False)
        try:
            response = await self.guard.send(client, method, location, always=headers)
        except UrlRefused as exc:
            await client.aclose()
            raise StoreUnavailable(f"The image location {location} is refused: {exc}") from None
        except httpx.HTTPError as exc:
            await client.aclose()
            raise StoreUnavailable(
                f"Could not reach the image location {location}: {type(exc).__name__}"
            ) from None
        if response.status_code in _GONE:
            await _close(client, response)
            raise DataMissing(f"Image data is missing at {location}")
        if response.status_code not in (200, 206):
            await _close(client, response)
            raise StoreUnavailable(
                f"The image location {location} answered HTTP {response.status_code}"
            )
        return client, response

    async def read(
        self, location: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        headers = {}
        if offset or length is not None:
            last = "" if length is None else str(offset + max(length, 1) - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        client, response = await self._open("GET", location, headers)
        # a server that ignores Range sends everything: skip to the range ourselves
        skip = offset if response.status_code == 200 else 0
        return _body(client, response, skip, length)

    async def size(self, location: str) -> int:
        client, response = await self._open("HEAD", location)
        await _close(client, response)
        length = response.headers.get("content-length", "")
        if not length.isdigit():
            raise StoreUnavailable(f"The image location {location} does not say its size")
        return int(length)

    async def modified(self, location: str) -> float:
        client, response = await self._open("HEAD", location)
        await _close(client, response)
        stamp = response.headers.get("last-modified")
        parsed = email.utils.parsedate_to_datetime(stamp) if stamp else None
        return parsed.timestamp() if parsed is not None else 0.0

    async def delete(self, location: str) -> None:
        """Nothing: what a URL serves is not glimpse's to remove."""

    async def check_removable(self, location: str) -> None:
        return None

    async def objects(self) -> AsyncIterator[str]:
        return
        yield  # an async generator that holds nothing: no data here is glimpse's

    async def properties(self) -> dict[str, Any]:
        return {}  # Glance shows none for its http store

    async def probe(self) -> None:
        return None


async def _close(client: httpx.AsyncClient, response: httpx.Response) -> None:
    await response.aclose()
    await client.aclose()


async def _body(
    client: httpx.AsyncClient, response: httpx.Response, skip: int, length: int | None
) -> AsyncIterator[bytes]:
    left = length
    try:
        async for chunk in response.aiter_raw(READ_CHUNK):
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            if left is not None:
                chunk = chunk[:left]
                left -= len(chunk)
            if chunk:
                yield chunk
            if left == 0:
                return
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"Reading the image location broke off: {type(exc).__name__}"
        ) from None
    finally:
        await _close(client, response)
