"""glance-download: another region's image service, as the caller sees it.

The region's image endpoint is the one the caller's token finds in Keystone's catalog
(``GET /v3/auth/catalog``, read with keystoneauth1's catalog; the region matched without
regard to case, as Glance does). The remote image's record and then its data are read
with the caller's token through web-download's guard (filters, resolved addresses,
timeouts, retries, the size cap), as Glance fetches them. Only an ``active`` remote image
with a size and formats this service accepts is taken; of its properties, those named
by ``glance_download_properties`` prefixes, never ``os_glance*``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from keystoneauth1 import exceptions as ksa_exceptions
from keystoneauth1.access.service_catalog import ServiceCatalogV3
from keystoneauth1.session import Session

from glimpse.auth.keystone import identity_v3_url
from glimpse.config import Settings
from glimpse.image_data.ingest import Ingested
from glimpse.imports.web import WebSource
from glimpse.model.images import BASE_ATTRIBUTES
from glimpse.tasks.model import JobFailed

LABEL = "glance-download"
RESERVED_PREFIX = "os_glance"
# what an image's view shows besides its properties
_NOT_PROPERTIES = frozenset(BASE_ATTRIBUTES) | {
    "tags", "self", "file", "schema", "locations", "direct_url", "stores",
}  # fmt: skip
_RECORD_CAP = 4 << 20  # an image record is far smaller; a bigger answer is not one


@dataclass(frozen=True, slots=True)
class RemoteImage:
    id: str
    size: int
    disk_format: str
    container_format: str
    properties: dict[str, str]  # the ones to copy
    data_url: str
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None

    def mismatch(self, found: Ingested) -> str | None:
        """Why the data read is not the remote image's (its size or hashes say so)."""
        if found.size != self.size:
            return (
                f"{LABEL}: the downloaded data size {found.size} is different "
                f"from the expected {self.size}"
            )
        if self.checksum and self.checksum != found.checksum:
            return f"{LABEL}: the data's md5 {found.checksum} is not the remote's {self.checksum}"
        same_algo = self.os_hash_algo == found.hash_algo
        if self.os_hash_value and same_algo and self.os_hash_value != found.hash_value:
            return f"{LABEL}: the data's {found.hash_algo} is not the remote image's"
        return None


class RemoteImages:
    def __init__(self, settings: Settings, web: WebSource) -> None:
        self.settings = settings
        self.web = web

    async def find(self, token: str, region: str, interface: str, image_id: str) -> RemoteImage:
        """The remote image's record, checked; JobFailed says what is wrong."""
        endpoint = await self.endpoint(token, region, interface)
        url = f"{endpoint}/v2/images/{image_id}"
        headers = {**_headers(token), "Accept": "application/json"}
        chunks, _ = await self.web.open(url, _RECORD_CAP, headers=headers, label=LABEL)
        body = b"".join([chunk async for chunk in chunks])
        try:
            record = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise JobFailed(f"{LABEL}: {url} did not answer an image record") from None
        if not isinstance(record, dict):
            raise JobFailed(f"{LABEL}: {url} did not answer an image record")
        return self._checked(record, image_id, f"{endpoint}/v2/images/{image_id}/file")

    async def open(
        self, image: RemoteImage, token: str, cap: int
    ) -> tuple[AsyncIterator[bytes], int | None]:
        if image.size > cap:
            raise JobFailed(f"{LABEL}: {image.size} bytes is over the limit of {cap}")
        return await self.web.open(image.data_url, cap, headers=_headers(token), label=LABEL)

    async def endpoint(self, token: str, region: str, interface: str) -> str:
        catalog = ServiceCatalogV3(await asyncio.to_thread(self._catalog, token))
        found = catalog.get_endpoints_data(service_type="image", interface=interface)
        for endpoint in found.get("image", []):
            if (endpoint.region_name or "").lower() == region.lower() and endpoint.catalog_url:
                url: str = endpoint.catalog_url
                return url.rstrip("/")
        raise JobFailed(f"{interface} glance endpoint not found for region {region}")

    def _catalog(self, token: str) -> list[dict[str, Any]]:
        """In a thread: the catalog as Keystone shows it to the token's holder."""
        s = self.settings
        assert s.keystone_auth_url is not None  # glance-download is keystone mode only
        url = f"{identity_v3_url(s.keystone_auth_url)}/auth/catalog"
        session = Session(timeout=s.keystone_timeout_seconds)
        try:
            response = session.get(
                url, headers={"X-Auth-Token": token}, authenticated=False, raise_exc=False
            )
        except ksa_exceptions.ClientException as exc:
            raise JobFailed(f"{LABEL}: Keystone at {url} could not be asked: {exc}") from None
        finally:
            session.session.close()
        if response.status_code in (401, 404):
            raise JobFailed(f"{LABEL}: Keystone no longer accepts the caller's token")
        if response.status_code != 200:
            raise JobFailed(f"{LABEL}: Keystone answered {response.status_code} for the catalog")
        catalog: list[dict[str, Any]] = response.json().get("catalog") or []
        return catalog

    def _checked(self, record: dict[str, Any], image_id: str, data_url: str) -> RemoteImage:
        status = record.get("status")
        if status != "active":
            raise JobFailed(f"Source image status should be active instead of {status}")
        size = record.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise JobFailed(f"Size attribute of remote image {image_id} could not be determined.")
        formats = {}
        for name, allowed in (
            ("disk_format", self.settings.disk_formats),
            ("container_format", self.settings.container_formats),
        ):
            value = record.get(name)
            if not isinstance(value, str) or value not in allowed:
                raise JobFailed(
                    f"Remote image {image_id} has {name} {value!r}, which this service "
                    f"does not accept ({', '.join(allowed)})"
                )
            formats[name] = value
        prefixes = tuple(self.settings.glance_download_properties)
        properties = {
            key: value if isinstance(value, str) else orjson.dumps(value).decode()
            for key, value in record.items()
            if key not in _NOT_PROPERTIES
            and key.startswith(prefixes)
            and not key.startswith(RESERVED_PREFIX)
            and value is not None
        }
        return RemoteImage(
            id=image_id,
            size=size,
            disk_format=formats["disk_format"],
            container_format=formats["container_format"],
            properties=properties,
            data_url=data_url,
            checksum=_text(record.get("checksum")),
            os_hash_algo=_text(record.get("os_hash_algo")),
            os_hash_value=_text(record.get("os_hash_value")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _headers(token: str) -> dict[str, str]:
    return {"X-Auth-Token": token, "Accept-Encoding": "identity"}
