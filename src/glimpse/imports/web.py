"""web-download: fetching a URL without letting it reach what it must not.

Glance's filters (``import_*_schemes/hosts/ports``: an allow list wins over a deny list
of the same kind; a port rule applies only to a port the URL names) and, beyond them,
a refusal of every address that is not global (loopback, private, link-local, …) unless
the host is allowed by name. The addresses checked are the ones the name resolves to,
and the connection goes to one of those very addresses (no second lookup to rebind);
every redirect is checked again. Bytes are counted while they stream (the size cap),
with connect and read timeouts; transient failures are retried with backoff.

glance-download fetches the other region's image service through the same guard (as
Glance does), with the caller's token in its headers: headers go to the URL's own
origin only, never to where a redirect leads elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from glimpse.config import Settings
from glimpse.tasks.model import JobFailed

log = logging.getLogger(__name__)

_MAX_REDIRECTS = 5
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class UrlRefused(Exception):
    """A URL (or a redirect) the filters refuse; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # what to connect to: the host replaced by the checked address
    host: str  # the name, for the Host header and TLS
    display: str


def _listed(
    value: str | int, allowed: list[str] | list[int], denied: list[str] | list[int]
) -> bool:
    if allowed:
        return value in allowed
    return value not in denied


_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+))*\.?$", re.IGNORECASE)


def _parse_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address literal in its one plain spelling, None for a name; other spellings
    of addresses (``2130706433``, ``0x7f000001``, ``127.1``) are refused."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        raise UrlRefused(f"Host {host} is not a plain name or address")
    return None


class WebSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def check_request(self, url: str) -> None:
        """Glance's check when the import is requested (a refusal is a 400): the filters
        on the URL as written, then the addresses its host resolves to, of which one must
        be neither loopback nor link-local nor a denied host, unless the host is allowed
        by name. The job checks again, stricter (every address global, each redirect)."""
        _, host, port = self._split(url)
        if host in self.settings.import_allowed_hosts:
            return
        denied = set(self.settings.import_disallowed_hosts)
        for address in await self._addresses(host, port):
            plain = getattr(address, "ipv4_mapped", None) or address
            if not (plain.is_loopback or plain.is_link_local) and str(address) not in denied:
                return
        raise UrlRefused(f"Host {host} has no address an import may reach")

    async def _addresses(
        self, host: str, port: int
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        literal = _parse_host(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UrlRefused(f"Host {host} does not resolve: {exc}") from None
        return [ipaddress.ip_address(info[4][0]) for info in infos]

    def _split(self, url: str) -> tuple[str, str, int]:
        s = self.settings
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not _listed(
            scheme, s.import_allowed_schemes, s.import_disallowed_schemes
        ):
            raise UrlRefused(f"URI scheme {scheme or 'none'} is not allowed")
        host = parts.hostname or ""
        if not host:
            raise UrlRefused("URI has no host")
        if not _listed(host, s.import_allowed_hosts, s.import_disallowed_hosts):
            raise UrlRefused(f"Host {host} is not allowed")
        try:
            port = parts.port
        except ValueError:
            raise UrlRefused("URI has an invalid port") from None
        if port is not None and not _listed(
            port, s.import_allowed_ports, s.import_disallowed_ports
        ):
            raise UrlRefused(f"Port {port} is not allowed")
        _parse_host(host)
        return scheme, host, port or (443 if scheme == "https" else 80)

    async def _resolve(self, url: str) -> Target:
        scheme, host, port = self._split(url)
        addresses = await self._addresses(host, port)
        explicitly_allowed = host in self.settings.import_allowed_hosts
        for address in addresses:
            if not address.is_global and not explicitly_allowed:
                raise UrlRefused(f"Host {host} resolves to a non-public address {address}")
        address = addresses[0]
        netloc = f"[{address}]" if address.version == 6 else str(address)
        parts = urlsplit(url)
        connect = urlunsplit((scheme, f"{netloc}:{port}", parts.path or "/", parts.query, ""))
        return Target(url=connect, host=parts.netloc.rsplit("@", 1)[-1], display=url)

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
        origin = _origin(url)
        timeout = httpx.Timeout(s.web_download_read_timeout, connect=s.web_download_connect_timeout)
        client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        try:
            current = url
            for _ in range(_MAX_REDIRECTS + 1):
                try:
                    target = await self._resolve(current)
                except UrlRefused as exc:
                    raise JobFailed(f"{label} refused: {exc}") from None
                own = headers if _origin(current) == origin else {}
                request = client.build_request(
                    "GET",
                    target.url,
                    headers={**own, "Host": target.host},
                    extensions={"sni_hostname": urlsplit(current).hostname or ""},
                )
                try:
                    response = await client.send(request, stream=True)
                except (httpx.TimeoutException, httpx.NetworkError) as exc:
                    raise _Transient(f"{type(exc).__name__}") from None
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    await response.aclose()
                    current = urljoin(current, location)
                    continue
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
                    raise JobFailed(
                        f"{label} of {url}: {announced} bytes is over the limit of {cap}"
                    )
                return _body(client, response, cap, announced, label), announced
            raise JobFailed(f"{label} of {url}: too many redirects")
        except BaseException:
            await client.aclose()
            raise


class _Transient(Exception):
    pass


def _origin(url: str) -> tuple[str, str]:
    """Scheme and host[:port] as written (``h`` and ``h:80`` differ: the safe side)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.rsplit("@", 1)[-1].lower()


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
