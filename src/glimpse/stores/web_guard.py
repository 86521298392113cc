"""Reaching a URL only where it may go: Glance's import filters and more.

Glance's filters (``import_*_schemes/hosts/ports``: an allow list wins over a deny list
of the same kind; a port rule applies only to a port the URL names) and, beyond them,
a refusal of every address that is not global (loopback, private, link-local, …) unless
the host is allowed by name. The addresses checked are the ones the name resolves to,
and the connection goes to one of those very addresses (no second lookup to rebind);
every redirect is checked again. web-download and glance-download fetch through it, the
http store reads its locations through it, and a location URL is held to it when added.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from glimpse.config import Settings

MAX_REDIRECTS = 5


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


class WebGuard:
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

    async def resolve(self, url: str) -> Target:
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

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        always: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """``method`` on ``url``, following up to five redirects, each target checked
        and connected to at the address checked; a streamed response (the caller closes
        it). ``headers`` (credentials) go to the URL's own origin only, never where a
        redirect leads elsewhere; ``always`` (a Range) to every hop. UrlRefused for a
        refused URL or redirect, or too many redirects."""
        origin = origin_of(url)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = await self.resolve(current)
            own = headers if headers and origin_of(current) == origin else {}
            request = client.build_request(
                method,
                target.url,
                headers={**(always or {}), **own, "Host": target.host},
                extensions={"sni_hostname": urlsplit(current).hostname or ""},
            )
            response = await client.send(request, stream=True)
            if not response.is_redirect:
                return response
            location = response.headers.get("location", "")
            await response.aclose()
            current = urljoin(current, location)
        raise UrlRefused(f"{url}: too many redirects")


def origin_of(url: str) -> tuple[str, str]:
    """Scheme and host[:port] as written (``h`` and ``h:80`` differ: the safe side)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.rsplit("@", 1)[-1].lower()
