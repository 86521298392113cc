"""web-download: fetching a URL without letting it reach what it must not.

Every URL and redirect goes through the store layer's guard (``stores/web_guard.py``:
Glance's filters, global addresses only, no second lookup). Bytes are counted while
they stream (the size cap), with connect and read timeouts; transient failures are
retried with backoff.

glance-download fetches the other region's image service through the same guard (as
Glance does), with the caller's token in its headers: headers go to the URL's own
origin only, never to where a redirect leads elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import httpx

from glimpse.config import Settings
from glimpse.stores.web_guard import UrlRefused, WebGuard
from glimpse.tasks.model import JobFailed

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class WebSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.guard = WebGuard(settings)

    async def check_request(self, url: str) -> None:
        """Glance's check when the import is requested (a refusal is a 400)."""
        await self.guard.check_request(url)

    async def open(
        self,
        url: str,
        cap: int,
        *,
        headers: Mapping[str, str] | None = None,
        label: str = "web-download",
    ) -> tuple[AsyncIterator[bytes], int | None]:
        """The body of ``url`` (after checked redirects) and its announced length.
        Retries transient failures; the chunks raise JobFailed past ``cap`` bytes.
        ``label`` names the fetch in failure messages."""
        s = self.settings
        delay = 0.5
        for attempt in range(s.web_download_retries + 1):
            try:
                return await self._open_once(url, cap, headers or {}, label)
            except _Transient as exc:
                if attempt == s.web_download_retries:
                    raise JobFailed(f"{label} of {url} failed: {exc}") from None
                log.warning("%s of %s: %s; retrying in %.1fs", label, url, exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _open_once(
        self, url: str, cap: int, headers: Mapping[str, str], label: str
    ) -> tuple[AsyncIterator[bytes], int | None]:
        s = self.settings
        timeout = httpx.Timeout(s.web_download_read_timeout, connect=s.web_download_connect_timeout)
        client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        try:
            try:
                response = await self.guard.send(client, "GET", url, headers)
            except UrlRefused as exc:
                raise JobFailed(f"{label} refused: {exc}") from None
            except (httpx.TimeoutException, httpx.NetworkError) as exc:
                raise _Transient(f"{type(exc).__name__}") from None
            if response.status_code in _TRANSIENT_STATUS:
                await response.aclose()
                raise _Transient(f"HTTP {response.status_code}")
            if response.status_code != 200:
                await response.aclose()
                raise JobFailed(f"{label} of {url} failed: HTTP {response.status_code}")
            length = response.headers.get("content-length")
            announced = int(length) if length and length.isdigit() else None
            if announced is not None and announced > cap:
                await response.aclose()
                raise JobFailed(f"{label} of {url}: {announced} bytes is over the limit of {cap}")
            return _body(client, response, cap, announced, label), announced
        except BaseException:
            await client.aclose()
            raise


class _Transient(Exception):
    pass


async def _body(
    client: httpx.AsyncClient,
    response: httpx.Response,
    cap: int,
    announced: int | None,
    label: str,
) -> AsyncIterator[bytes]:
    seen = 0
    try:
        async for chunk in response.aiter_raw():
            seen += len(chunk)
            if seen > cap:
                raise JobFailed(f"{label}: the data is over the limit of {cap} bytes")
            yield chunk
    except httpx.TimeoutException:
        raise JobFailed(f"{label}: the source stopped sending (read timeout)") from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise JobFailed(f"{label}: the transfer broke off ({type(exc).__name__})") from None
    finally:
        await response.aclose()
        await client.aclose()
    if announced is not None and seen != announced:
        raise JobFailed(f"{label}: got {seen} of {announced} bytes")
