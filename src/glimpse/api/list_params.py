"""``GET /v2/images`` query string → :class:`ImageQuery`, with Glance's 400s; and the
``first``/``next`` links of a page."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from glimpse.config import Settings
from glimpse.errors import BadRequest
from glimpse.images.listing import (
    EXACT_FILTER_COLUMNS,
    IN_FILTER_COLUMNS,
    INTEGER_COLUMNS,
    RANGE_COLUMNS,
    SORT_KEYS,
    TIME_OPERATORS,
    ImageQuery,
    TimeFilter,
)

PAGING = frozenset({"limit", "marker", "sort_key", "sort_dir", "sort"})
VISIBILITY_FILTERS = frozenset({"public", "private", "shared", "community", "all"})
MEMBER_STATUSES = frozenset({"accepted", "pending", "rejected", "all"})
SORT_DIRS = ("asc", "desc")


def parse_image_query(params: QueryParams, settings: Settings) -> ImageQuery:
    query = ImageQuery(limit=_limit(params.get("limit"), settings))
    query.marker = params.get("marker")
    query.sort = _sorting(params)
    for key in dict.fromkeys(params.keys()):
        if key in PAGING:
            continue
        value = params.getlist(key)[-1]
        _add_filter(query, key, value, params.getlist(key))
    return query


def _limit(raw: str | None, settings: Settings) -> int:
    if raw is None:
        return min(settings.limit_param_default, settings.api_limit_max)
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("limit param must be positive")
    return min(limit, settings.api_limit_max)


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise BadRequest(
            f"Invalid sort key: {key}. It must be one of the following: "
            "name, status, container_format, disk_format, size, id, created_at, updated_at."
        )
    return key


def _sort_dir(direction: str) -> str:
    if direction not in SORT_DIRS:
        raise BadRequest(f"Invalid sort direction: {direction}")
    return direction


def _sorting(params: QueryParams) -> list[tuple[str, str]]:
    keys = params.getlist("sort_key")
    dirs = params.getlist("sort_dir")
    new = params.getlist("sort")
    if new and (keys or dirs):
        raise BadRequest("Old and new sorting syntax cannot be combined")
    sort: list[tuple[str, str]] = []
    if new:
        for item in ",".join(new).split(","):
            key, _, direction = item.strip().partition(":")
            sort.append((_sort_key(key.strip()), _sort_dir(direction.strip() or "desc")))
        default_dir = "desc"
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise BadRequest("Number of sort dirs does not match the number of sort keys")
        for direction in dirs:
            _sort_dir(direction)
        default_dir = dirs[0] if len(dirs) == 1 else "desc"
        for index, key in enumerate(keys):
            direction = dirs[index] if len(dirs) > 1 else default_dir
            sort.append((_sort_key(key), direction))
    # created_at then id break ties, so that pages never overlap or skip
    for tie_breaker in ("created_at", "id"):
        if all(key != tie_breaker for key, _ in sort):
            sort.append((tie_breaker, default_dir))
    return sort


def _split_in(values: str) -> list[str]:
    """``a,b,"c,d"`` → ``['a', 'b', 'c,d']`` (double quotes, backslash escapes)."""
    try:
        return next(csv.reader([values], quotechar='"', escapechar="\\", strict=True))
    except (csv.Error, StopIteration):
        raise BadRequest(f"Invalid in: filter value {values!r}") from None


def _operator_value(key: str, raw: str) -> list[str]:
    """Values of an ``in:``/``eq:`` capable filter; a colon means an operator."""
    op, sep, rest = raw.partition(":")
    if not sep:
        return [raw]
    if op == "in":
        return _split_in(rest)
    if op == "eq":
        return [rest]
    raise BadRequest(f"Unable to filter by unknown operator '{op}'.")


def _integer(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _time_filter(key: str, raw: str) -> TimeFilter:
    op, value = "eq", raw
    head, sep, tail = raw.partition(":")
    if sep and not head[:1].isdigit():
        op, value = head, tail
        if op not in TIME_OPERATORS:
            raise BadRequest("Unable to filter on a unknown operator.")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise BadRequest(
            f'Bad "{key}" query filter format. Use ISO 8601 DateTime notation.'
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return TimeFilter(key, op, parsed)


def _boolean(key: str, value: str, *, case_sensitive: bool) -> bool:
    check = value if case_sensitive else value.lower()
    if check not in ("true", "false"):
        raise BadRequest(
            f"Invalid value '{value}' for '{key}' filter. Valid values are 'true' or 'false'."
        )
    return check == "true"


def _add_filter(query: ImageQuery, key: str, value: str, every: list[str]) -> None:
    if key == "changes-since":
        raise BadRequest('The "changes-since" filter is no longer available on v2.')
    if key == "visibility":
        if value not in VISIBILITY_FILTERS:
            raise BadRequest(f"Invalid visibility value: {value}")
        query.visibility = value
    elif key == "member_status":
        if value not in MEMBER_STATUSES:
            raise BadRequest(f"Invalid status: {value}")
        query.member_status = value
    elif key == "tag":
        query.tags = list(dict.fromkeys(every))
    elif key == "protected":
        query.protected = _boolean(key, value, case_sensitive=True)
    elif key == "os_hidden":
        query.os_hidden = _boolean(key, value, case_sensitive=False)
    elif key in ("created_at", "updated_at"):
        query.times.append(_time_filter(key, value))
    elif key in IN_FILTER_COLUMNS:
        query.values[key] = list(_operator_value(key, value))
    elif key.endswith(("_min", "_max")) and key[:-4] in RANGE_COLUMNS:
        number = _integer(value)
        if number is None:
            raise BadRequest("Unable to filter on a range with a non-numeric value.")
        low, high = query.ranges.get(key[:-4], (None, None))
        query.ranges[key[:-4]] = (number, high) if key.endswith("_min") else (low, number)
    elif key in EXACT_FILTER_COLUMNS:
        if key in INTEGER_COLUMNS:
            number = _integer(value)
            # Glance answers an empty page for a non-number, not an error
            query.values[key] = [number] if number is not None else []
        else:
            query.values[key] = [value]
    else:
        query.properties[key] = value


def page_links(params: QueryParams, last_id: str | None) -> tuple[str, str | None]:
    """``first`` and ``next`` as Glance builds them (repeated parameters collapse to
    their last value)."""
    kept = {key: value for key, value in params.multi_items() if key != "marker"}
    kept = {key: params.getlist(key)[-1] for key in kept}
    first = "/v2/images" + (f"?{urlencode(kept)}" if kept else "")
    if last_id is None:
        return first, None
    return first, "/v2/images?" + urlencode({**kept, "marker": last_id})
