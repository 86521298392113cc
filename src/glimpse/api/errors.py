"""Errors as Glance renders them: the one place exceptions become responses.

``STATUS`` is the one table from glimpse's errors (named for what happened) to Glance's
status codes; the errors only HTTP can meet (a method no route serves, a bad ``Range``)
are defined here. The body format follows the request's ``Accept`` the way Glance's
(WebOb's) does: HTML when HTML is acceptable at least as much as JSON (``*/*``
included), JSON when only JSON is, plain text otherwise — also without an ``Accept``
header, as Glance under uWSGI answers.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from glimpse import errors
from glimpse.errors import GlimpseError


class MethodNotAllowed(GlimpseError):
    """A known path, a method it does not serve (``headers`` carry ``Allow``)."""


class MethodNotImplemented(GlimpseError):
    """A method no route serves, on a path no route knows."""


class UnsupportedMediaType(GlimpseError):
    """A request body of a media type the resource does not take."""


class RangeNotSatisfiable(GlimpseError):
    """A ``Range`` that cannot be parsed, or starts past the end of the data."""


class HeaderTooLarge(GlimpseError):
    """A request header longer than glimpse accepts."""


# error → (status code, reason phrase); an error's nearest listed ancestor decides
STATUS: dict[type[GlimpseError], tuple[int, str]] = {
    errors.InvalidInput: (400, "Bad Request"),
    errors.NotAuthenticated: (401, "Unauthorized"),
    errors.NotPermitted: (403, "Forbidden"),
    errors.NotFound: (404, "Not Found"),
    MethodNotAllowed: (405, "Method Not Allowed"),
    errors.Conflict: (409, "Conflict"),
    errors.ImageDeleted: (410, "Gone"),
    errors.LimitExceeded: (413, "Request Entity Too Large"),
    errors.DataFormatMismatch: (415, "Unsupported Media Type"),
    UnsupportedMediaType: (415, "Unsupported Media Type"),
    RangeNotSatisfiable: (416, "Request Range Not Satisfiable"),
    HeaderTooLarge: (431, "Request Header Fields Too Large"),
    MethodNotImplemented: (501, "Not Implemented"),
    errors.BackendUnavailable: (503, "Service Unavailable"),
    GlimpseError: (500, "Internal Server Error"),
}


def status_of(exc: GlimpseError) -> tuple[int, str]:
    """The status code and reason phrase Glance answers ``exc`` with."""
    for cls in type(exc).__mro__:
        found = STATUS.get(cls)
        if found is not None:
            return found
    raise AssertionError("GlimpseError is in the table")


_HTML = (
    "<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n  <h1>{status}</h1>\n"
    "  {body}\n </body>\n</html>"
)


def _body(status_code: int, message: str) -> str:
    """WebOb's body of an error, in its HTML form (405 has a template of its own)."""
    if status_code == 405:
        return f"{message} <br /><br />\n"
    return f"{message}<br /><br />\n\n\n"


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type`` (most specific range wins)."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        fields = part.strip().split(";")
        offered = fields[0].strip().lower()
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if offered == media_type:
            rank = 2
        elif offered == f"{kind}/*":
            rank = 1
        elif offered == "*/*":
            rank = 0
        else:
            continue
        if rank > best[0]:
            best = (rank, q)
    return best[1]


def error_format(accept: str | None) -> str:
    if not accept:
        return "plain"
    html, json = _quality(accept, "text/html"), _quality(accept, "application/json")
    if html > 0 and html >= json:
        return "html"
    if json > 0:
        return "json"
    return "plain"


def render_error(
    status_code: int,
    title: str,
    message: str,
    accept: str | None,
    headers: dict[str, str],
    *,
    head: bool = False,
) -> Response:
    status = f"{status_code} {title}"
    if head:  # Glance answers HEAD errors as empty HTML, whatever the Accept
        return Response(
            b"", status_code=status_code, headers=headers, media_type="text/html; charset=UTF-8"
        )
    body = _body(status_code, message)
    kind = error_format(accept)
    if kind == "json":
        # json's separators (", ", ": "), as Glance's bodies are spaced
        content = json.dumps({"message": body, "code": status, "title": title}).encode()
        media_type = "application/json"
    elif kind == "html":
        content = _HTML.format(status=status, body=body).encode()
        media_type = "text/html; charset=UTF-8"
    else:  # WebOb's plain text: newlines become spaces, then each <br /> a newline
        plain = body.replace("\n", " ").replace("<br />", "\n")
        content = f"{status}\n\n{plain}".encode()
        media_type = "text/plain; charset=UTF-8"
    return Response(content, status_code=status_code, headers=headers, media_type=media_type)


def error_response(exc: GlimpseError, accept: str | None, *, head: bool = False) -> Response:
    status_code, title = status_of(exc)
    return render_error(status_code, title, exc.message, accept, exc.headers, head=head)
