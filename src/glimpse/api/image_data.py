"""``/v2/images/{id}/file``: upload (the seed) and download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from glimpse.api.http import context_of, no_content, reject_body
from glimpse.api.routing import Router
from glimpse.errors import BadRequest, UnsupportedMediaType
from glimpse.images.data import ImageData, UploadRequest


def _optional_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {value!r}") from None
    if number < 0:
        raise BadRequest(f"{name} must not be negative")
    return number


class ImageDataApi:
    def __init__(self, data: ImageData) -> None:
        self.data = data

    def register(self, router: Router) -> None:
        router.add("/v2/images/{image_id}/file", {"GET": self.download, "PUT": self.upload})

    async def upload(self, request: Request, image_id: str) -> Response:
        headers = request.headers
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/octet-stream":
            raise UnsupportedMediaType(
                f"The request media type {content_type or 'None'} is not supported by this "
                "server. Image data must be sent as application/octet-stream."
            )
        upload = UploadRequest(
            image_id=image_id,
            body=request.stream(),
            declared_size=_optional_int(
                headers.get("x-openstack-image-size"), "x-openstack-image-size"
            ),
            content_length=_optional_int(headers.get("content-length"), "Content-Length"),
            store_name=headers.get("x-image-meta-store"),
        )
        await self.data.upload(context_of(request), upload)
        return no_content()

    async def download(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        range_header = request.headers.get("range")
        if range_header is None and "content-range" in request.headers:
            # legacy clients ask for a slice with a request Content-Range: bytes a-b/*
            legacy = request.headers["content-range"].strip()
            range_header = "bytes=" + legacy.removeprefix("bytes").strip().split("/")[0]
        found = await self.data.download(context_of(request), image_id, range_header)
        if found.chunks is None:
            return no_content()
        headers = {"Content-Type": "application/octet-stream"}
        if found.image.checksum:
            headers["Content-MD5"] = found.image.checksum
        status = 200
        length = found.size
        if found.byte_range is not None:
            start, end = found.byte_range.start, found.byte_range.end
            status = 206
            length = end - start + 1
            headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
        headers["Content-Length"] = str(length)
        return StreamingResponse(found.chunks, status_code=status, headers=headers)
