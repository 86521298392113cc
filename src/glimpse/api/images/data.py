"""``/v2/images/{id}/file``: upload (the seed) and download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from glimpse import metrics
from glimpse.api.bodies import context_of, no_content, reject_body
from glimpse.api.errors import UnsupportedMediaType
from glimpse.api.images.ranges import parse_range
from glimpse.api.routing import Router
from glimpse.errors import InvalidInput
from glimpse.image_data.download import Download, ImageDownload
from glimpse.image_data.upload import ImageUpload, UploadRequest


def optional_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer, not {value!r}") from None
    if number < 0:
        raise InvalidInput(f"{name} must not be negative")
    return number


_PATHSEND = "http.response.pathsend"


class PathSendResponse(Response):
    """A whole file that the server sends itself (ASGI ``http.response.pathsend``:
    ``sendfile``, the bytes never pass through Python)."""

    def __init__(self, path: str, headers: dict[str, str]) -> None:
        super().__init__(headers=headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": _PATHSEND, "path": self.path})


def _download_headers(found: Download) -> dict[str, str]:
    headers = {"Content-Type": "application/octet-stream"}
    if found.image.checksum:
        headers["Content-MD5"] = found.image.checksum
    return headers


class ImageDataApi:
    def __init__(self, uploads: ImageUpload, downloads: ImageDownload) -> None:
        self.uploads = uploads
        self.downloads = downloads

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
            # as Glance: 0 declares nothing (clients send it when they do not know)
            declared_size=optional_int(
                headers.get("x-openstack-image-size"), "x-openstack-image-size"
            )
            or None,
            content_length=optional_int(headers.get("content-length"), "Content-Length"),
            store_name=headers.get("x-image-meta-store"),
        )
        with metrics.transfer("upload"):
            await self.uploads.upload(context_of(request), upload)
        return no_content()

    async def _send_file(self, found: Download) -> Response | None:
        """The whole image as a file the server sends, if its data is one (and no
        metric counts the bytes as they go out)."""
        if metrics.enabled():
            return None
        path = await found.local_file()
        if path is None:
            return None
        headers = _download_headers(found)
        headers["Content-Length"] = str(found.size)
        return PathSendResponse(path, headers)

    async def download(self, request: Request, image_id: str) -> Response:
        await reject_body(request)
        range_header = request.headers.get("range")
        if range_header is None and "content-range" in request.headers:
            # legacy clients ask for a slice with a request Content-Range: bytes a-b/*
            legacy = request.headers["content-range"].strip()
            range_header = "bytes=" + legacy.removeprefix("bytes").strip().split("/")[0]
        prefer = [name.strip() for name in request.query_params.get("prefer", "").split(",")]
        found = await self.downloads.download(
            context_of(request), image_id, [name for name in prefer if name]
        )
        if found.size is None:
            return no_content()
        byte_range = parse_range(range_header, found.size) if range_header is not None else None
        if byte_range is None and _PATHSEND in request.scope.get("extensions", {}):
            sent = await self._send_file(found)
            if sent is not None:
                return sent
        if byte_range is None:
            chunks = await found.open()
        else:
            chunks = await found.open(byte_range.start, byte_range.length)
        if chunks is None:
            return no_content()  # as Glance: when the store has nothing, nothing is sent
        headers = _download_headers(found)
        status = 200
        length = found.size
        if byte_range is not None:
            status = 206
            length = byte_range.length
            headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{found.size}"
        headers["Content-Length"] = str(length)
        if metrics.enabled():
            chunks = metrics.transferring(chunks)
        return StreamingResponse(chunks, status_code=status, headers=headers)
