"""The one exception tree of glimpse.

Every layer raises these; ``api/errors.py`` turns them into Glance's status codes and
bodies in one place. Each class carries the HTTP status it stands for, so there is no
second table to keep in step.

    GlimpseError
    ├── BadRequest            400  malformed input, schema failures, bad lengths
    ├── Unauthorized          401
    ├── Forbidden             403  policy, read-only attributes, protected images
    ├── NotFound              404  absent, deleted or invisible
    ├── MethodNotAllowed      405
    ├── Conflict              409  wrong status, duplicates, lost races
    ├── Gone                  410  deleted while its data was uploading
    ├── RequestEntityTooLarge 413  size cap, quotas
    ├── UnsupportedMediaType  415
    ├── RangeNotSatisfiable   416
    ├── HeaderTooLarge        431
    └── ServiceUnavailable    503  a store or backend cannot be used right now
"""

from __future__ import annotations


class GlimpseError(Exception):
    status_code = 500
    title = "Internal Server Error"

    def __init__(self, message: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(GlimpseError):
    status_code = 400
    title = "Bad Request"


class Unauthorized(GlimpseError):
    status_code = 401
    title = "Unauthorized"


class Forbidden(GlimpseError):
    status_code = 403
    title = "Forbidden"


class NotFound(GlimpseError):
    status_code = 404
    title = "Not Found"


class MethodNotAllowed(GlimpseError):
    status_code = 405
    title = "Method Not Allowed"


class Conflict(GlimpseError):
    status_code = 409
    title = "Conflict"


class Gone(GlimpseError):
    status_code = 410
    title = "Gone"


class RequestEntityTooLarge(GlimpseError):
    status_code = 413
    title = "Request Entity Too Large"


class UnsupportedMediaType(GlimpseError):
    status_code = 415
    title = "Unsupported Media Type"


class RangeNotSatisfiable(GlimpseError):
    status_code = 416
    title = "Request Range Not Satisfiable"


class HeaderTooLarge(GlimpseError):
    status_code = 431
    title = "Request Header Fields Too Large"


class ServiceUnavailable(GlimpseError):
    status_code = 503
    title = "Service Unavailable"


class NotImplementedYet(GlimpseError):
    status_code = 501
    title = "Not Implemented"
