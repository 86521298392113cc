"""``GET /v2/images`` query string → :class:`ImageQuery`, with Glance's 400s; and the
``first``/``next`` links of a page.

Repeated parameters follow Glance's (WebOb's) rules: ``limit``, ``marker``,
``member_status``, ``sort`` and ``visibility`` take their *first* value and any later
copy is left over as a filter (a ``visibility`` one on the column, the others on an
additional property of that name, which matches nothing); ``tag``, ``sort_key`` and
``sort_dir`` take every value; every other filter takes its last value.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from oslo_utils import timeutils
from starlette.datastructures import QueryParams

from glimpse.config import Settings
from glimpse.errors import InvalidInput
from glimpse.model.listing import (
    COLUMN_RANGES,
    EXACT_FILTER_COLUMNS,
    IN_FILTER_COLUMNS,
    INTEGER_COLUMNS,
    RANGE_COLUMNS,
    SORT_KEYS,
    TIME_OPERATORS,
    ImageQuery,
    TimeFilter,
)

VISIBILITY_FILTERS = frozenset({"public", "private", "shared", "community", "all"})
MEMBER_STATUSES = frozenset({"accepted", "pending", "rejected", "all"})
SORT_DIRS = ("asc", "desc")
# set by the service whatever the caller says (Glance overwrites `deleted` with false)
IGNORED_FILTERS = frozenset({"deleted"})


class _Params:
    """The query string as an ordered multi-dict that values can be taken out of."""

    def __init__(self, params: QueryParams) -> None:
        self.items = list(params.multi_items())

    def __contains__(self, key: str) -> bool:
        return any(k == key for k, _ in self.items)

    def pop_first(self, key: str) -> str | None:
        for index, (k, value) in enumerate(self.items):
            if k == key:
                del self.items[index]
                return value
        return None

    def pop_all(self, key: str) -> list[str]:
        found = [value for k, value in self.items if k == key]
        self.items = [(k, value) for k, value in self.items if k != key]
        return found

    def last(self) -> dict[str, str]:
        """Each remaining key once (where it first appeared), with its last value."""
        return dict(self.items)


def parse_image_query(params: QueryParams, settings: Settings) -> ImageQuery:
    rest = _Params(params)
    limit = rest.pop_first("limit")
    marker = rest.pop_first("marker")
    member_status = rest.pop_first("member_status")
    tags = [tag.strip() for tag in rest.pop_all("tag")]
    filters = rest.last()
    visibility = filters.get("visibility")
    if visibility and visibility not in VISIBILITY_FILTERS:
        raise InvalidInput(f"Invalid visibility value: {visibility}")
    if "changes-since" in filters:
        raise InvalidInput('The "changes-since" filter is no longer available on v2.')
    if member_status is None:
        member_status = "accepted"
    elif member_status not in MEMBER_STATUSES:
        raise InvalidInput(f"Invalid status: {member_status}")
    query = ImageQuery(limit=_limit(limit, settings), marker=marker, member_status=member_status)
    query.tags = list(dict.fromkeys(tags))
    query.sort = _sorting(rest)
    filters = rest.last()
    query.os_hidden = _boolean("os_hidden", filters.get("os_hidden", "false").lower())
    if "protected" in filters:
        query.protected = _boolean("protected", filters["protected"])
    query.visibility = rest.pop_first("visibility")
    for key, value in rest.last().items():
        if key not in ("os_hidden", "protected") and key not in IGNORED_FILTERS:
            _add_filter(query, key, value)
    return query


def _limit(raw: str | None, settings: Settings) -> int:
    if raw is None:
        return min(settings.limit_param_default, settings.api_limit_max)
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidInput("limit param must be an integer") from None
    if limit < 0:
        raise InvalidInput("limit param must be positive")
    return min(limit, settings.api_limit_max)


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise InvalidInput(
            f"Invalid sort key: {key}. It must be one of the following: "
            "name, status, container_format, disk_format, size, id, created_at, updated_at."
        )
    return key


def _sort_dir(direction: str) -> str:
    if direction not in SORT_DIRS:
        raise InvalidInput(f"Invalid sort direction: {direction}")
    return direction


def _sorting(params: _Params) -> list[tuple[str, str]]:
    keys: list[str] = []
    dirs: list[str] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise InvalidInput("Old and new sorting syntax cannot be combined")
        for item in (params.pop_first("sort") or "").strip().split(","):
            key, _, direction = item.partition(":")
            keys.append(_sort_key(key.strip()))
            dirs.append(_sort_dir(direction.strip() or "desc"))
    else:
        keys = [_sort_key(key.strip()) for key in params.pop_all("sort_key")]
        dirs = [_sort_dir(direction.strip()) for direction in params.pop_all("sort_dir")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise InvalidInput("Number of sort dirs does not match the number of sort keys")
    keys = keys or ["created_at"]
    # one direction (however given) applies to every key and to the tie-breakers
    default_dir = dirs[0] if len(dirs) == 1 else "desc"
    sort = [(key, dirs[index] if len(dirs) > 1 else default_dir) for index, key in enumerate(keys)]
    # created_at then id break ties, so that pages never overlap or skip
    for tie_breaker in ("created_at", "id"):
        if tie_breaker not in keys:
            sort.append((tie_breaker, default_dir))
    return sort


# one value of an `in:` list: "quoted" (backslash escapes kept as sent), bare, or empty
_IN_VALUE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,')


def _split_in(values: str) -> list[str]:
    """``a,b,"c,d"`` → ``['a', 'b', 'c,d']``, exactly as Glance splits them."""
    opened = False
    for index, char in enumerate(values):
        if char != '"' or (index and values[index - 1] == "\\"):
            continue
        if not opened and index and values[index - 1] != ",":
            raise InvalidInput(
                f"Invalid filter value {values}. There is no comma before opening quotation mark."
            )
        if opened and index + 1 != len(values) and values[index + 1] != ",":
            raise InvalidInput(
                f"Invalid filter value {values}. There is no comma after closing quotation mark."
            )
        opened = not opened
    if opened:
        raise InvalidInput(f"Invalid filter value {values}. The quote is not closed.")
    return [quoted or bare for quoted, bare in _IN_VALUE.findall(values)]


def _parse_time(value: str) -> datetime | None:
    try:
        parsed: datetime = timeutils.normalize_time(timeutils.parse_isotime(value))
    except (ValueError, OverflowError):  # overflow: a zone shifts it past year 1 or 9999
        return None
    return parsed


def _split_operator(expression: str) -> tuple[str, str]:
    """``op:value`` → (op, value); no colon, or a whole ISO 8601 time (which has colons),
    means ``eq``."""
    op, sep, value = expression.partition(":")
    if not sep or _parse_time(expression) is not None:
        return "eq", expression
    return op, value


def _operator_value(raw: str) -> list[str]:
    """Values of an ``in:``/``eq:`` capable filter."""
    op, value = _split_operator(raw)
    if op == "in":
        return _split_in(value)
    if op == "eq":
        return [value]
    raise InvalidInput(f"Unable to filter by unknown operator '{op}'.")


def _integer(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _time_filter(key: str, raw: str) -> TimeFilter:
    op, value = _split_operator(raw)
    parsed = _parse_time(value)
    if parsed is None:
        raise InvalidInput(f'Bad "{key}" query filter format. Use ISO 8601 DateTime notation.')
    if op not in TIME_OPERATORS:
        raise InvalidInput("Unable to filter on a unknown operator.")
    return TimeFilter(key, op, parsed)


def _boolean(key: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise InvalidInput(
            f"Invalid value '{value}' for '{key}' filter. Valid values are 'true' or 'false'."
        )
    return value == "true"


def _add_filter(query: ImageQuery, key: str, value: str) -> None:
    if key == "visibility":
        # a second `visibility=`: Glance matches it on the column as well
        query.values[key] = [value]
    elif key in ("created_at", "updated_at"):
        query.times.append(_time_filter(key, value))
    elif key in IN_FILTER_COLUMNS:
        query.values[key] = list(_operator_value(value))
    elif key.endswith(("_min", "_max")):
        number = _integer(value)
        if number is None:
            raise InvalidInput("Unable to filter on a range with a non-numeric value.")
        column = key[:-4]
        if column not in RANGE_COLUMNS:
            query.properties[key] = value
            return
        # a bound beyond what the column holds means the same as the column's limit
        lowest, highest = COLUMN_RANGES[column]
        number = min(max(number, lowest), highest)
        low, high = query.ranges.get(column, (None, None))
        query.ranges[column] = (number, high) if key.endswith("_min") else (low, number)
    elif key in EXACT_FILTER_COLUMNS:
        if key in INTEGER_COLUMNS:
            number = _integer(value)
            lowest, highest = COLUMN_RANGES[key]
            # Glance answers an empty page for a non-number, not an error; a number the
            # column cannot hold matches nothing either
            fits = number is not None and lowest <= number <= highest
            query.values[key] = [number] if fits else []
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
